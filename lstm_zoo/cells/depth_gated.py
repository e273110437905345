"""Depth-gated LSTM (Yao, Cohn, Vylomova, Duh & Dyer 2015, "Depth-gated recurrent neural
networks", arXiv 1508.03790, §2)."""

from __future__ import annotations

import keras
from keras import ops

from lstm_zoo.cells.lstm import LSTMCell
from lstm_zoo.cells.registry import register_cell


@register_cell(
    "depth_gated", layer_name="DepthGatedLSTM", description="depth-gated stacked LSTM, Yao 2015"
)
class DepthGatedLSTMCell(LSTMCell):
    """A stack of `depth` LSTM layers in one cell, where layer L+1's memory cell receives
    layer L's memory cell of the same step through a depth gate d (Yao et al. 2015, eq. 1).
    Layer 1 is an `LSTMCell` on x_t (weights `kernel`, `recurrent_kernel`, `bias`); layer
    L+1 >= 2 reads x^{L+1}_t = h^L_t:

        i, f, o = sigma(z_i), sigma(z_f), sigma(z_o),  g = phi(z_c),
            z = x^{L+1}_t W^{L+1} + h^{L+1}_{t-1} U^{L+1} + b^{L+1}      (gates i, f, c, o)
        d_t = sigma(x^{L+1}_t W_d^{L+1} + w_cd^{L+1} * c^{L+1}_{t-1} + w_ld^{L+1} * c^L_t
                    + b_d^{L+1})
        c^{L+1}_t = d_t * c^L_t + f * c^{L+1}_{t-1} + i * g
        h^{L+1}_t = o * phi(c^{L+1}_t)

    Weights of layer l >= 2: `kernel_{l}` [units, 5 units] (W for i, f, c, o, then W_d),
    `recurrent_kernel_{l}` [units, 4 units], `bias_{l}` [5 units] (forget block 1 with
    `unit_forget_bias`), `depth_cell_weights_{l}` (w_cd) and `depth_lower_weights_{l}` (w_ld)
    [units]. The layer's output is the top layer's h; the states are [h^D, c^D, h^1, c^1,
    ..., h^{D-1}, c^{D-1}] (top first, so h is the output), all [batch, units]. With
    `depth=1` it is `LSTMCell` with the same weights and outputs. Recurrent dropout drops
    every layer's h_{t-1} (one mask) where it enters h U; `dropout` drops x_t.

    Args: those of `LSTMCell`, plus `depth` (int >= 1, default 2) and `depth_initializer`
    (w_cd, w_ld; default glorot_uniform, as peepholes).
    """

    def __init__(self, units, depth=2, depth_initializer="glorot_uniform", **kwargs):
        super().__init__(units, **kwargs)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"`depth` must be an int >= 1; got depth={depth!r}.")
        self.depth = depth
        self.depth_initializer = keras.initializers.get(depth_initializer)
        self.state_size = [units] * (2 * depth)
        names = ["hidden", "cell"]
        for layer in range(1, depth):
            names += [f"hidden_{layer}", f"cell_{layer}"]
        self.state_names = tuple(names)

    def build_extra_weights(self):
        u = self.units
        for layer in range(2, self.depth + 1):
            for name, shape, initializer in (
                (f"kernel_{layer}", (u, 5 * u), self.kernel_initializer),
                (f"recurrent_kernel_{layer}", (u, 4 * u), self.recurrent_initializer),
                (f"depth_cell_weights_{layer}", (u,), self.depth_initializer),
                (f"depth_lower_weights_{layer}", (u,), self.depth_initializer),
            ):
                setattr(
                    self, name, self.add_weight(shape=shape, name=name, initializer=initializer)
                )
            if self.use_bias:
                name = f"bias_{layer}"
                setattr(
                    self,
                    name,
                    self.add_weight(
                        shape=(5 * u,), name=name, initializer=self._upper_bias_initializer()
                    ),
                )

    def _upper_bias_initializer(self):
        base, units, forget = self.bias_initializer, self.units, self.unit_forget_bias

        def initializer(shape, dtype=None):
            parts = [base((units,), dtype=dtype) for _ in range(5)]
            if forget:
                parts[1] = ops.ones((units,), dtype=dtype)
            return ops.concatenate(parts)

        return initializer

    def _layer_weights(self, layer):
        names = [f"kernel_{layer}", f"recurrent_kernel_{layer}"]
        names += [f"bias_{layer}"] if self.use_bias else []
        names += [f"depth_cell_weights_{layer}", f"depth_lower_weights_{layer}"]
        return [getattr(self, name) for name in names]

    def extra_weights(self):
        weights = [self.recurrent_kernel]
        for layer in range(2, self.depth + 1):
            weights += self._layer_weights(layer)
        return weights

    @property
    def hand_written_backward(self):
        return False

    @property
    def native_kernel(self):
        """'depth_gated' with sigmoid/tanh (`lstm_zoo/kernels/depth_gated.cc`)."""
        exact = type(self) is DepthGatedLSTMCell  # subclasses opt in themselves
        return "depth_gated" if exact and self.standard_activations else None

    def loop_kernel(self):
        return None  # each layer's h U is its own matmul, done in `step`

    def _layer_states(self, states, layer):
        """(h, c) of layer `layer` (1-based) in the state list (top first)."""
        index = 0 if layer == self.depth else 2 * layer
        return states[index], states[index + 1]

    def recurrent_inputs(self, states, dropout_mask):
        """Every layer's h_{t-1} (times the dropout mask), layer 1 first: [.., depth * units]."""
        hs = [self._layer_states(states, layer)[0] for layer in range(1, self.depth + 1)]
        if dropout_mask is not None:
            hs = [h * dropout_mask for h in hs]
        return ops.concatenate(hs, axis=-1) if len(hs) > 1 else hs[0]

    def step(self, xz, hz, states, extra):
        u = self.units
        h_ins = ops.split(hz, self.depth, axis=-1) if self.depth > 1 else [hz]
        weights = iter(extra)
        recurrent_kernel = next(weights)
        z = xz + ops.matmul(h_ins[0], recurrent_kernel)
        activate = self.gate_activations(("gate", "gate", "candidate", "gate"))
        new = {}
        h_low = c_low = depth_gate = None
        for layer in range(1, self.depth + 1):
            _, c_prev = self._layer_states(states, layer)
            if layer > 1:
                kernel, recurrent = next(weights), next(weights)
                bias = next(weights) if self.use_bias else None
                w_cd, w_ld = next(weights), next(weights)
                projected = ops.matmul(h_low, kernel)
                if bias is not None:
                    projected = projected + bias
                z = projected[:, : 4 * u] + ops.matmul(h_ins[layer - 1], recurrent)
                depth_gate = self.recurrent_activation(
                    projected[:, 4 * u :] + w_cd * c_prev + w_ld * c_low
                )
            gates = activate(z)
            i, f, g, o = ops.split(gates, 4, axis=-1)
            c = f * c_prev + i * g
            if layer > 1:
                c = c + depth_gate * c_low
            h = o * self.activation(c)
            new[layer] = (h, c)
            h_low, c_low = h, c
        ordered = [*new[self.depth]]
        for layer in range(1, self.depth):
            ordered += [*new[layer]]
        saved = (gates,) if depth_gate is None else (gates, depth_gate)
        return ordered[0], ordered, saved

    def named_gates(self, saved):
        gates = super().named_gates(saved)
        if len(saved) > 1:
            gates["depth"] = saved[1]
        return gates

    def get_config(self):
        return {
            **super().get_config(),
            "depth": self.depth,
            "depth_initializer": keras.initializers.serialize(self.depth_initializer),
        }
