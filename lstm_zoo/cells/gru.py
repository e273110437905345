"""Gated recurrent unit (Cho et al. 2014) in the weight layout of `keras.layers.GRUCell`."""

from __future__ import annotations

import keras
from keras import ops

from lstm_zoo.cells.base import RecurrentCell, activation_derivative


@keras.saving.register_keras_serializable(package="lstm_zoo")
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

    @property
    def supports_fused(self):
        # reset_after=False multiplies r_t into h_{t-1} before U_h: a second recurrent matmul
        # per step that the shared fast loop does not model.
        return self.reset_after and super().supports_fused

    def call(self, inputs, states, training=False):
        if self.reset_after:
            return super().call(inputs, states, training=training)
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        h_in = h_prev
        if training and 0.0 < self.recurrent_dropout < 1.0:
            h_in = h_prev * self.get_recurrent_dropout_mask(h_prev)
        x_z, x_r, x_h = ops.split(self.input_projection(inputs), 3, axis=-1)
        u_zr, u_h = (
            self.recurrent_kernel[:, : 2 * self.units],
            self.recurrent_kernel[:, 2 * self.units :],
        )
        h_z, h_r = ops.split(ops.matmul(h_in, u_zr), 2, axis=-1)
        z = self.recurrent_activation(x_z + h_z)
        r = self.recurrent_activation(x_r + h_r)
        candidate = self.activation(x_h + ops.matmul(r * h_in, u_h))
        h = z * h_prev + (1.0 - z) * candidate
        return h, [h]

    def step(self, xz, hz, states, extra):
        h_prev, units = states[0], self.units
        zr = self.gate_activations(("gate", "gate"))(xz[:, : 2 * units] + hz[:, : 2 * units])
        z, r = ops.split(zr, 2, axis=-1)
        h_h = hz[:, 2 * units :]
        candidate = self.activation(xz[:, 2 * units :] + r * h_h)
        h = candidate + z * (h_prev - candidate)
        return h, [h], (zr, candidate, h_h)

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
