"""LSTM cells: vanilla (Keras layout), peephole (Gers & Schmidhuber 2000) and coupled (CIFG).

Notation: sigma is `recurrent_activation` (sigmoid), phi is `activation` (tanh),
z = x_t W + b + h_{t-1} U split into gate blocks, and * the elementwise product.
"""

from __future__ import annotations

import keras
from keras import ops

from lstm_zoo.cells.base import RecurrentCell, activation_derivative
from lstm_zoo.cells.registry import register_cell


class _LSTMFamilyCell(RecurrentCell):
    """State [h, c]; the output is h."""

    state_names = ("hidden", "cell")

    def __init__(self, units, **kwargs):
        super().__init__(units, **kwargs)
        self.state_size = [self.units, self.units]

    def _derivatives(self):
        return (
            activation_derivative(self.recurrent_activation),
            activation_derivative(self.activation),
        )

    def step_backward(self, dh, dstates, factors):
        """Shared by the family: with factors (A, P, F) prepared for the step,

        dc_t     = dc_t(from t+1) + dh_t * A          (A = dc_t/dh_t through h = o phi(c))
        dz       = [dc_t, .., dc_t, dh_t] * P         (one block per gate, o last)
        dc_{t-1} = dc_t * F                           (F = dc_t/dc_{t-1})
        """
        dc_from_h, gate_factors, carry = factors
        dc = dstates[0] + dh * dc_from_h
        dz = ops.concatenate([dc] * (self.blocks - 1) + [dh], axis=-1) * gate_factors
        return dz, dz, [None, dc * carry]


@register_cell(
    "zoo_lstm",
    layer_name="LSTM",
    description="lstm_zoo LSTM on the fast loop (Keras weight layout)",
)
class LSTMCell(_LSTMFamilyCell):
    """Long short-term memory cell (Hochreiter & Schmidhuber 1997, with forget gate).

    Same weights, names, shapes and gate order (i, f, c, o) as `keras.layers.LSTMCell`:

        i_t = sigma(z_i)        f_t = sigma(z_f)        o_t = sigma(z_o)
        c_t = f_t * c_{t-1} + i_t * phi(z_c)
        h_t = o_t * phi(c_t)

    Args: as `keras.layers.LSTMCell` (see `RecurrentCell`).

    Example:

    >>> layer = keras.layers.RNN(LSTMCell(4))
    >>> layer(ops.ones((2, 3, 5))).shape
    (2, 4)
    """

    gate_names = ("i", "f", "c", "o")
    has_forget_gate = True

    @property
    def native_kernel(self):
        # subclasses (other equations) opt in themselves
        exact = type(self) is LSTMCell
        return "lstm" if exact and self.standard_activations else None

    def step(self, xz, hz, states, extra):
        c_prev = states[1]
        gates = self.gate_activations(("gate", "gate", "candidate", "gate"))(xz + hz)
        i, f, g, o = ops.split(gates, 4, axis=-1)
        c = f * c_prev + i * g
        phi_c = self.activation(c)
        h = o * phi_c
        return h, [h, c], (gates, phi_c)

    def named_gates(self, saved):
        i, f, g, o = ops.split(saved[0], 4, axis=-1)
        return {"input": i, "forget": f, "output": o, "candidate": g}

    def prepare_backward(self, saved, previous_states, extra):
        gates, phi_c = saved
        c_prev = previous_states[1]
        i, f, g, o = ops.split(gates, 4, axis=-1)
        d_gates = self.gate_activations(("gate", "gate", "candidate", "gate")).derivative(gates)
        d_i, d_f, d_g, d_o = ops.split(d_gates, 4, axis=-1)
        d_phi = activation_derivative(self.activation)
        factors = ops.concatenate([g * d_i, c_prev * d_f, i * d_g, phi_c * d_o], axis=-1)
        return [o * d_phi(phi_c), factors, f]


@register_cell(
    "peephole", layer_name="PeepholeLSTM", description="peephole LSTM, Gers & Schmidhuber 2000"
)
class PeepholeLSTMCell(_LSTMFamilyCell):
    """LSTM with peephole connections (Gers & Schmidhuber 2000, "Recurrent nets that time and
    count"): the input and forget gates see c_{t-1}, the output gate sees c_t, through diagonal
    weights p (shape [units], names as in TensorFlow's former PeepholeLSTMCell):

        i_t = sigma(z_i + p_i * c_{t-1})      (input_gate_peephole_weights)
        f_t = sigma(z_f + p_f * c_{t-1})      (forget_gate_peephole_weights)
        c_t = f_t * c_{t-1} + i_t * phi(z_c)
        o_t = sigma(z_o + p_o * c_t)          (output_gate_peephole_weights)
        h_t = o_t * phi(c_t)

    With p = 0 it is `LSTMCell`. Args: those of `LSTMCell` plus `peephole_initializer`
    (default glorot_uniform, as TensorFlow's cell), `peephole_regularizer`,
    `peephole_constraint`.
    """

    gate_names = ("i", "f", "c", "o")
    has_forget_gate = True

    def __init__(
        self,
        units,
        peephole_initializer="glorot_uniform",
        peephole_regularizer=None,
        peephole_constraint=None,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self.peephole_initializer = keras.initializers.get(peephole_initializer)
        self.peephole_regularizer = keras.regularizers.get(peephole_regularizer)
        self.peephole_constraint = keras.constraints.get(peephole_constraint)

    def build_extra_weights(self):
        for gate in ("input", "forget", "output"):
            name = f"{gate}_gate_peephole_weights"
            weight = self.add_weight(
                shape=(self.units,),
                name=name,
                initializer=self.peephole_initializer,
                regularizer=self.peephole_regularizer,
                constraint=self.peephole_constraint,
            )
            setattr(self, name, weight)

    def extra_weights(self):
        return [
            self.input_gate_peephole_weights,
            self.forget_gate_peephole_weights,
            self.output_gate_peephole_weights,
        ]

    @property
    def native_kernel(self):
        # subclasses (other equations) opt in themselves
        exact = type(self) is PeepholeLSTMCell
        return "peephole" if exact and self.standard_activations else None

    def step(self, xz, hz, states, extra):
        p_i, p_f, p_o = extra
        c_prev = states[1]
        z = xz + hz
        z_ifc, z_o = z[..., : 3 * self.units], z[..., 3 * self.units :]
        peepholes = ops.concatenate([p_i * c_prev, p_f * c_prev, ops.zeros_like(c_prev)], axis=-1)
        ifg = self.gate_activations(("gate", "gate", "candidate"))(z_ifc + peepholes)
        i, f, g = ops.split(ifg, 3, axis=-1)
        c = f * c_prev + i * g
        o = self.recurrent_activation(z_o + p_o * c)
        phi_c = self.activation(c)
        h = o * phi_c
        return h, [h, c], (ifg, o, c, phi_c)

    def named_gates(self, saved):
        i, f, g = ops.split(saved[0], 3, axis=-1)
        return {"input": i, "forget": f, "output": saved[1], "candidate": g}

    def prepare_backward(self, saved, previous_states, extra):
        d_sigma, d_phi = self._derivatives()
        p_i, p_f, p_o = extra
        ifg, o, c, phi_c = saved
        c_prev = previous_states[1]
        i, f, g = ops.split(ifg, 3, axis=-1)
        d_i, d_f, d_g = ops.split(
            self.gate_activations(("gate", "gate", "candidate")).derivative(ifg), 3, axis=-1
        )
        factor_i, factor_f, factor_o = g * d_i, c_prev * d_f, phi_c * d_sigma(o)
        factors = ops.concatenate([factor_i, factor_f, i * d_g, factor_o], axis=-1)
        dc_from_h = o * d_phi(phi_c) + factor_o * p_o  # through h = o phi(c) and o's peephole
        carry = f + factor_i * p_i + factor_f * p_f  # c_{t-1} feeds c_t, i_t and f_t
        return [dc_from_h, factors, carry]

    def extra_weight_gradients(self, dhz, saved, previous_states, extra):
        dz_i, dz_f, _, dz_o = ops.split(dhz, 4, axis=-1)
        c, c_prev = saved[2], previous_states[1]
        return [
            ops.sum(dz_i * c_prev, axis=0),
            ops.sum(dz_f * c_prev, axis=0),
            ops.sum(dz_o * c, axis=0),
        ]

    def get_config(self):
        return {
            **super().get_config(),
            "peephole_initializer": keras.initializers.serialize(self.peephole_initializer),
            "peephole_regularizer": keras.regularizers.serialize(self.peephole_regularizer),
            "peephole_constraint": keras.constraints.serialize(self.peephole_constraint),
        }


@register_cell(
    "coupled", layer_name="CoupledLSTM", description="coupled input-forget gate LSTM (CIFG)"
)
class CoupledLSTMCell(_LSTMFamilyCell):
    """LSTM with coupled input and forget gates (CIFG; Greff et al. 2017, "LSTM: A Search Space
    Odyssey"): the forget gate is 1 - i_t, so `kernel`, `recurrent_kernel` and `bias` hold
    three blocks in the order (i, c, o):

        i_t = sigma(z_i)        f_t = 1 - i_t        o_t = sigma(z_o)
        c_t = f_t * c_{t-1} + i_t * phi(z_c)
        h_t = o_t * phi(c_t)

    Args: those of `LSTMCell` except `unit_forget_bias` (there is no forget gate).
    """

    gate_names = ("i", "c", "o")

    @property
    def native_kernel(self):
        # subclasses (other equations) opt in themselves
        exact = type(self) is CoupledLSTMCell
        return "coupled" if exact and self.standard_activations else None

    def step(self, xz, hz, states, extra):
        c_prev = states[1]
        gates = self.gate_activations(("gate", "candidate", "gate"))(xz + hz)
        i, g, o = ops.split(gates, 3, axis=-1)
        c = c_prev + i * (g - c_prev)
        phi_c = self.activation(c)
        h = o * phi_c
        return h, [h, c], (gates, phi_c)

    def named_gates(self, saved):
        i, g, o = ops.split(saved[0], 3, axis=-1)
        return {"input": i, "forget": 1.0 - i, "output": o, "candidate": g}

    def prepare_backward(self, saved, previous_states, extra):
        gates, phi_c = saved
        c_prev = previous_states[1]
        i, g, o = ops.split(gates, 3, axis=-1)
        d_i, d_g, d_o = ops.split(
            self.gate_activations(("gate", "candidate", "gate")).derivative(gates), 3, axis=-1
        )
        d_phi = activation_derivative(self.activation)
        factors = ops.concatenate([(g - c_prev) * d_i, i * d_g, phi_c * d_o], axis=-1)
        return [o * d_phi(phi_c), factors, 1.0 - i]
