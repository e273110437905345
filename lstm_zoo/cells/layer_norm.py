"""Layer-normalised LSTM (Ba, Kiros & Hinton 2016, "Layer normalization", §3.1 and §6.4)."""

from __future__ import annotations

import keras
from keras import ops

from lstm_zoo.cells.base import read_value
from lstm_zoo.cells.lstm import LSTMCell
from lstm_zoo.cells.registry import register_cell


def layer_norm(v, gamma, beta, epsilon):
    """LN(v; gamma, beta) = (v - mean(v)) / sqrt(var(v) + epsilon) * gamma + beta, over the
    last axis (as `keras.layers.LayerNormalization`)."""
    mean = ops.mean(v, axis=-1, keepdims=True)
    variance = ops.mean(ops.square(v - mean), axis=-1, keepdims=True)
    return (v - mean) * ops.rsqrt(variance + epsilon) * gamma + beta


@register_cell(
    "layer_norm_lstm",
    layer_name="LayerNormLSTM",
    description="layer-normalised LSTM, Ba et al. 2016",
)
class LayerNormLSTMCell(LSTMCell):
    """LSTM with layer normalisation of the input and recurrent projections and of the cell
    state (Ba, Kiros & Hinton 2016, "Layer normalization", eq. 20-22), gates (i, f, c, o) and
    weights `kernel`, `recurrent_kernel`, `bias` as `LSTMCell`:

        z   = LN(x_t W; g_x, b_x) + LN(h_{t-1} U; g_h, b_h) + b
        i_t = sigma(z_i)        f_t = sigma(z_f)        o_t = sigma(z_o)
        c_t = f_t * c_{t-1} + i_t * phi(z_c)
        h_t = o_t * phi(LN(c_t; g_c, b_c))

    LN normalises over the whole 4 * units vector (z) or the units (c_t), as TensorFlow Addons'
    `LayerNormLSTMCell`, whose names and defaults this cell keeps: the gains and biases are
    `kernel_norm_gamma/beta` [4 units], `recurrent_norm_gamma/beta` [4 units] and
    `state_norm_gamma/beta` [units]. As in the paper (and unlike Addons, which carries
    LN(c_t)), the state carried to the next step is the unnormalised c_t.

    Args: those of `LSTMCell`, plus `norm_gamma_initializer` ("ones"),
    `norm_beta_initializer` ("zeros") and `norm_epsilon` (1e-3), as Addons'.
    """

    def __init__(
        self,
        units,
        norm_gamma_initializer="ones",
        norm_beta_initializer="zeros",
        norm_epsilon=1e-3,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        if not float(norm_epsilon) > 0.0:
            raise ValueError(f"`norm_epsilon` must be > 0; got norm_epsilon={norm_epsilon!r}.")
        self.norm_gamma_initializer = keras.initializers.get(norm_gamma_initializer)
        self.norm_beta_initializer = keras.initializers.get(norm_beta_initializer)
        self.norm_epsilon = float(norm_epsilon)

    def build_extra_weights(self):
        for norm, width in (("kernel", 4), ("recurrent", 4), ("state", 1)):
            for part, initializer in (
                ("gamma", self.norm_gamma_initializer),
                ("beta", self.norm_beta_initializer),
            ):
                name = f"{norm}_norm_{part}"
                weight = self.add_weight(
                    shape=(width * self.units,), name=name, initializer=initializer
                )
                setattr(self, name, weight)

    def extra_weights(self):
        return [
            self.recurrent_norm_gamma,
            self.recurrent_norm_beta,
            self.state_norm_gamma,
            self.state_norm_beta,
        ]

    @property
    def hand_written_backward(self):
        return False  # the fast loop differentiates `step`

    @property
    def native_kernel(self):
        """'layer_norm_lstm' with sigmoid/tanh (`lstm_zoo/kernels/layer_norm_lstm.cc`)."""
        exact = type(self) is LayerNormLSTMCell  # subclasses opt in themselves
        return "layer_norm_lstm" if exact and self.standard_activations else None

    def input_projection(self, inputs):
        """LN(x W; g_x, b_x) + b, for all steps at once."""
        xz = layer_norm(
            ops.matmul(inputs, self.kernel),
            read_value(self.kernel_norm_gamma),
            read_value(self.kernel_norm_beta),
            self.norm_epsilon,
        )
        return xz + self.bias if self.use_bias else xz

    def step(self, xz, hz, states, extra):
        gamma_h, beta_h, gamma_c, beta_c = extra
        c_prev = states[1]
        z = xz + layer_norm(hz, gamma_h, beta_h, self.norm_epsilon)
        gates = self.gate_activations(("gate", "gate", "candidate", "gate"))(z)
        i, f, g, o = ops.split(gates, 4, axis=-1)
        c = f * c_prev + i * g
        h = o * self.activation(layer_norm(c, gamma_c, beta_c, self.norm_epsilon))
        return h, [h, c], (gates,)

    def get_config(self):
        return {
            **super().get_config(),
            "norm_gamma_initializer": keras.initializers.serialize(self.norm_gamma_initializer),
            "norm_beta_initializer": keras.initializers.serialize(self.norm_beta_initializer),
            "norm_epsilon": self.norm_epsilon,
        }
