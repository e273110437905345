"""Gated recurrent unit (Cho et al. 2014) in the weight layout of `keras.layers.GRUCell`."""

from __future__ import annotations

from keras import ops

from lstm_zoo.cells.base import RecurrentCell, activation_derivative, read_value
from lstm_zoo.cells.registry import register_cell


@register_cell(
    "zoo_gru", layer_name="GRU", description="lstm_zoo GRU on the fast loop (Keras weight layout)"
)
class GRUCell(RecurrentCell):
    """GRU cell (Cho et al. 2014, "Learning phrase representations using RNN encoder-decoder").

    Gate order (z, r, h) as `keras.layers.GRUCell`; x W + b_x split into x_z, x_r, x_h and the
    recurrent kernel U into U_z, U_r, U_h:

        z_t = sigma(x_z + h_{t-1} U_z + b_z)          (update gate)
        r_t = sigma(x_r + h_{t-1} U_r + b_r)          (reset gate)
        reset_after=True  (Keras / cuDNN):  h~_t = phi(x_h + r_t * (h_{t-1} U_h + b_h))
        reset_after=False (the paper's):    h~_t = phi(x_h + (r_t * h_{t-1}) U_h)
        h_t = z_t * h_{t-1} + (1 - z_t) * h~_t

    With reset_after=True `bias` has shape [2, 3 * units] (input bias, recurrent bias b_*),
    otherwise [3 * units]. Args: as `keras.layers.GRUCell` (see `RecurrentCell`) plus
    `reset_after`.

    Example:

    >>> keras.layers.RNN(GRUCell(4))(ops.ones((2, 3, 5))).shape
    (2, 4)
    """

    gate_names = ("z", "r", "h")

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def bias_shape(self):
        width = 3 * self.units
        return (2, width) if self.reset_after else (width,)

    def input_bias(self):
        return self.bias[0] if self.reset_after else self.bias

    def recurrent_bias(self):
        return self.bias[1] if (self.reset_after and self.use_bias) else None

    def loop_kernel(self):
        # reset_after=False multiplies r_t into h_{t-1} before U_h: `step` does that matmul
        # (and the others) itself, with U as an extra weight.
        return super().loop_kernel() if self.reset_after else None

    def extra_weight_values(self):
        return [] if self.reset_after else [read_value(self.recurrent_kernel)]

    @property
    def hand_written_backward(self):
        return self.reset_after and super().hand_written_backward

    @property
    def native_kernel(self):
        exact = type(self) is GRUCell  # subclasses (other equations) opt in themselves
        return "gru" if exact and self.reset_after and self.standard_activations else None

    def step(self, xz, hz, states, extra):
        """reset_after=True: hz = h_in U + b_rec from the loop. False: hz = h_in, extra = [U]."""
        h_prev, units = states[0], self.units
        if self.reset_after:
            h_zr, h_h = hz[:, : 2 * units], hz[:, 2 * units :]
        else:
            (kernel,) = extra
            h_zr = ops.matmul(hz, kernel[:, : 2 * units])
        zr = self.gate_activations(("gate", "gate"))(xz[:, : 2 * units] + h_zr)
        z, r = ops.split(zr, 2, axis=-1)
        if self.reset_after:
            candidate = self.activation(xz[:, 2 * units :] + r * h_h)
        else:
            h_h = ops.zeros_like(h_prev)
            candidate = self.activation(
                xz[:, 2 * units :] + ops.matmul(r * hz, kernel[:, 2 * units :])
            )
        h = candidate + z * (h_prev - candidate)
        return h, [h], (zr, candidate, h_h)

    def named_gates(self, saved):
        update, reset = ops.split(saved[0], 2, axis=-1)
        return {"update": update, "reset": reset, "candidate": saved[1]}

    def prepare_backward(self, saved, previous_states, extra):
        zr, candidate, h_h = saved
        h_prev = previous_states[0]
        z, r = ops.split(zr, 2, axis=-1)
        d_z, d_r = ops.split(self.gate_activations(("gate", "gate")).derivative(zr), 2, axis=-1)
        d_candidate = (1.0 - z) * activation_derivative(self.activation)(candidate)
        factor_z, factor_r = (h_prev - candidate) * d_z, d_candidate * h_h * d_r
        input_factors = ops.concatenate([factor_z, factor_r, d_candidate], axis=-1)
        recurrent_factors = ops.concatenate([factor_z, factor_r, d_candidate * r], axis=-1)
        return [input_factors, recurrent_factors, z]

    def step_backward(self, dh, dstates, factors):
        """dxz = [dh, dh, dh] * Px,  dhz = [dh, dh, dh] * Ph,  dh_{t-1} gets dh * z directly."""
        input_factors, recurrent_factors, z = factors
        dh3 = ops.concatenate([dh, dh, dh], axis=-1)
        return dh3 * input_factors, dh3 * recurrent_factors, [dh * z]

    def get_config(self):
        return {**super().get_config(), "reset_after": self.reset_after}
