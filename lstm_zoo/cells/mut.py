"""MUT1, MUT2 and MUT3: the three architectures found by evolutionary search in Jozefowicz,
Zaremba & Sutskever 2015, "An empirical exploration of recurrent network architectures"
(ICML), Table 2.

Notation as the paper's, with row vectors (Keras layout): sigma is `recurrent_activation`
(sigmoid), phi is `activation` (tanh), * the elementwise product, h_t the state before the
step and h_{t+1} after it. Each cell has `kernel` W_x* [input_dim, k units] (its input
blocks), `recurrent_kernel` U = [U_z | U_r | U_h] ([units, k units]; MUT1 has no U_z) and
`bias` [b_z | b_r | b_h] ([3 units]).

A bare x_t term (MUT1's phi(x_t), MUT2's x_t in the reset gate) needs input width = units.
With any other width the cell learns a linear map in its place, x~_t = x_t P (`input_map`,
[input_dim, units], no bias); with equal widths x~_t = x_t exactly and there is no P.

Recurrent dropout drops h_t where it enters a matmul (h_t U_r, (r * h_t) U_h, and MUT3's
phi(h_t) U_z), as Keras's GRU does; the carried h_t is not dropped.
"""

from __future__ import annotations

from keras import ops

from lstm_zoo.cells.base import RecurrentCell, read_value
from lstm_zoo.cells.registry import register_cell


class _MutatedUnitCell(RecurrentCell):
    """Shared weights and plumbing; subclasses name their blocks and write `step`."""

    kernel_blocks: tuple[str, ...] = ()
    recurrent_blocks: tuple[str, ...] = ()
    gate_names = ("z", "r", "h")  # the bias blocks
    needs_bare_input = False

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"{type(self).__name__} needs a known feature size (last input dimension); "
                f"got input shape {tuple(input_shape)}."
            )
        self.kernel = self.add_weight(
            shape=(input_dim, len(self.kernel_blocks) * self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, len(self.recurrent_blocks) * self.units),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(3 * self.units,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.input_map = None
        if self.needs_bare_input and input_dim != self.units:
            self.input_map = self.add_weight(
                shape=(input_dim, self.units),
                name="input_map",
                initializer=self.kernel_initializer,
                regularizer=self.kernel_regularizer,
                constraint=self.kernel_constraint,
            )
        self.built = True

    def bare_input(self, inputs):
        """x~_t: x_t itself when input width = units, else x_t P."""
        return inputs if self.input_map is None else ops.matmul(inputs, self.input_map)

    def _biased(self, blocks):
        """Add b_z, b_r, b_h to the three [.., units] blocks."""
        if not self.use_bias:
            return ops.concatenate(blocks, axis=-1)
        return ops.concatenate(blocks, axis=-1) + self.bias

    def loop_kernel(self):
        return None  # every recurrent matmul reads r_t or phi(h_t): `step` does them

    @property
    def native_kernel(self):
        """'mut1', 'mut2' or 'mut3' with sigmoid/tanh (`lstm_zoo/kernels/mutated_units.cc`);
        subclasses (other equations) opt in themselves."""
        exact = type(self) in (MUT1Cell, MUT2Cell, MUT3Cell)
        return self.kernel_name if exact and self.standard_activations else None

    def extra_weight_values(self):
        return [read_value(self.recurrent_kernel)]

    def _mix(self, z, candidate, h_prev):
        """h_{t+1} = candidate * z + h_t * (1 - z)."""
        return h_prev + z * (candidate - h_prev)

    def named_gates(self, saved):
        z, r, candidate = saved
        return {"update": z, "reset": r, "candidate": candidate}


@register_cell("mut1", layer_name="MUT1", description="MUT1, Jozefowicz et al. 2015")
class MUT1Cell(_MutatedUnitCell):
    """MUT1 (Jozefowicz et al. 2015, Table 2):

        z = sigma(x_t W_xz + b_z)
        r = sigma(x_t W_xr + h_t U_hr + b_r)
        h_{t+1} = phi((r * h_t) U_hh + phi(x~_t) + b_h) * z + h_t * (1 - z)

    `kernel` [W_xz | W_xr], `recurrent_kernel` [U_hr | U_hh]. x~_t: see the module docstring.
    """

    kernel_name = "mut1"
    kernel_blocks = ("z", "r")
    recurrent_blocks = ("r", "h")
    needs_bare_input = True

    def input_projection(self, inputs):
        xz = ops.matmul(inputs, self.kernel)
        u = self.units
        return self._biased([xz[..., :u], xz[..., u:], self.activation(self.bare_input(inputs))])

    def step(self, xz, hz, states, extra):
        (kernel,) = extra
        u, h_prev, h_in = self.units, states[0], hz
        z = self.recurrent_activation(xz[:, :u])
        r = self.recurrent_activation(xz[:, u : 2 * u] + ops.matmul(h_in, kernel[:, :u]))
        candidate = self.activation(ops.matmul(r * h_in, kernel[:, u:]) + xz[:, 2 * u :])
        h = self._mix(z, candidate, h_prev)
        return h, [h], (z, r, candidate)


@register_cell("mut2", layer_name="MUT2", description="MUT2, Jozefowicz et al. 2015")
class MUT2Cell(_MutatedUnitCell):
    """MUT2 (Jozefowicz et al. 2015, Table 2):

        z = sigma(x_t W_xz + h_t U_hz + b_z)
        r = sigma(x~_t + h_t U_hr + b_r)
        h_{t+1} = phi((r * h_t) U_hh + x_t W_xh + b_h) * z + h_t * (1 - z)

    `kernel` [W_xz | W_xh], `recurrent_kernel` [U_hz | U_hr | U_hh]. x~_t: see the module
    docstring.
    """

    kernel_name = "mut2"
    kernel_blocks = ("z", "h")
    recurrent_blocks = ("z", "r", "h")
    needs_bare_input = True

    def input_projection(self, inputs):
        xz = ops.matmul(inputs, self.kernel)
        u = self.units
        return self._biased([xz[..., :u], self.bare_input(inputs), xz[..., u:]])

    def step(self, xz, hz, states, extra):
        (kernel,) = extra
        u, h_prev, h_in = self.units, states[0], hz
        zr = self.gate_activations(("gate", "gate"))(
            xz[:, : 2 * u] + ops.matmul(h_in, kernel[:, : 2 * u])
        )
        z, r = zr[:, :u], zr[:, u:]
        candidate = self.activation(ops.matmul(r * h_in, kernel[:, 2 * u :]) + xz[:, 2 * u :])
        h = self._mix(z, candidate, h_prev)
        return h, [h], (z, r, candidate)


@register_cell("mut3", layer_name="MUT3", description="MUT3, Jozefowicz et al. 2015")
class MUT3Cell(_MutatedUnitCell):
    """MUT3 (Jozefowicz et al. 2015, Table 2):

        z = sigma(x_t W_xz + phi(h_t) U_hz + b_z)
        r = sigma(x_t W_xr + h_t U_hr + b_r)
        h_{t+1} = phi((r * h_t) U_hh + x_t W_xh + b_h) * z + h_t * (1 - z)

    `kernel` [W_xz | W_xr | W_xh], `recurrent_kernel` [U_hz | U_hr | U_hh]; any input width.
    """

    kernel_name = "mut3"
    kernel_blocks = ("z", "r", "h")
    recurrent_blocks = ("z", "r", "h")

    def step(self, xz, hz, states, extra):
        (kernel,) = extra
        u, h_prev, h_in = self.units, states[0], hz
        z = self.recurrent_activation(xz[:, :u] + ops.matmul(self.activation(h_in), kernel[:, :u]))
        r = self.recurrent_activation(xz[:, u : 2 * u] + ops.matmul(h_in, kernel[:, u : 2 * u]))
        candidate = self.activation(ops.matmul(r * h_in, kernel[:, 2 * u :]) + xz[:, 2 * u :])
        h = self._mix(z, candidate, h_prev)
        return h, [h], (z, r, candidate)
