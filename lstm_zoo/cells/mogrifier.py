"""Mogrifier LSTM (Melis, Kočiský & Blunsom 2020, "Mogrifier LSTM", ICLR; arXiv 1909.01792)."""

from __future__ import annotations

import keras
from keras import ops

from lstm_zoo.cells.base import read_value
from lstm_zoo.cells.lstm import LSTMCell
from lstm_zoo.cells.registry import register_cell


@register_cell("mogrifier", layer_name="MogrifierLSTM", description="Mogrifier LSTM, Melis 2019")
class MogrifierLSTMCell(LSTMCell):
    """Mogrifier LSTM (Melis et al. 2019, §2, eq. 1-2): before each LSTM step, `rounds` = r
    rounds of mutual gating of the input x and the previous state h (x^{-1} = x_t,
    h^0 = h_{t-1}):

        x^i = 2 sigma(h^{i-1} Q^i) * x^{i-2}     for odd i in 1..r
        h^i = 2 sigma(x^{i-1} R^i) * h^{i-2}     for even i in 1..r

    then the `LSTMCell` step on the last x^i and h^i (x_t W + b + h U, gates i, f, c, o; the
    state carried is the LSTM's h_t, c_t). Q^i is [units, input_dim] (weight
    `mogrifier_q_{i}`), R^i [input_dim, units] (`mogrifier_r_{i}`); with `rank` = k each is a
    low-rank product, `mogrifier_q_{i}_left` [units, k] times `mogrifier_q_{i}_right`
    [k, input_dim] (likewise for R). With `rounds=0` the cell is exactly `LSTMCell`: the same
    weights (names, shapes, order), outputs and fast path.

    Recurrent dropout drops h^0 = h_{t-1} where it enters the rounds and the LSTM's matmul.

    Args: those of `LSTMCell`, plus `rounds` (int >= 0, default 5), `rank` (None for full
    matrices, or a positive int), `mogrifier_initializer` (default glorot_uniform).
    """

    def __init__(
        self, units, rounds=5, rank=None, mogrifier_initializer="glorot_uniform", **kwargs
    ):
        super().__init__(units, **kwargs)
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
            raise ValueError(f"`rounds` must be an int >= 0; got rounds={rounds!r}.")
        if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int) or rank < 1):
            raise ValueError(f"`rank` must be None or a positive int; got rank={rank!r}.")
        self.rounds = rounds
        self.rank = rank
        self.mogrifier_initializer = keras.initializers.get(mogrifier_initializer)

    def build_extra_weights(self):
        input_dim = self.kernel.shape[0]
        self.mogrifier_weights = []
        for i in range(1, self.rounds + 1):
            letter, shape = (
                ("q", (self.units, input_dim)) if i % 2 else ("r", (input_dim, self.units))
            )
            parts = [(f"mogrifier_{letter}_{i}", shape)]
            if self.rank is not None:
                parts = [
                    (f"mogrifier_{letter}_{i}_left", (shape[0], self.rank)),
                    (f"mogrifier_{letter}_{i}_right", (self.rank, shape[1])),
                ]
            self.mogrifier_weights.append(
                [
                    self.add_weight(shape=s, name=n, initializer=self.mogrifier_initializer)
                    for n, s in parts
                ]
            )

    @property
    def native_kernel(self):
        # rounds=0 is exactly the LSTM, whose loop runs it
        if not self.standard_activations:
            return None
        return "lstm" if self.rounds == 0 else "mogrifier"

    @property
    def hand_written_backward(self):
        return self.rounds == 0 and super().hand_written_backward

    def input_projection(self, inputs):
        # The rounds gate x_t by h_{t-1}: x_t W waits for them, inside the step.
        return super().input_projection(inputs) if self.rounds == 0 else inputs

    def loop_kernel(self):
        return super().loop_kernel() if self.rounds == 0 else None

    def extra_weight_values(self):
        if self.rounds == 0:
            return []
        values = [read_value(self.kernel), read_value(self.recurrent_kernel)]
        if self.use_bias:
            values.append(read_value(self.bias))
        for factors in self.mogrifier_weights:
            values += [read_value(w) for w in factors]
        return values

    def round_matrices(self, factors):
        """The r full matrices Q^1, R^2, Q^3, ... from `factors` as `extra_weight_values()[2
        or 3:]` (a low-rank round's two factors multiplied)."""
        factors = iter(factors)
        matrices = []
        for _ in range(self.rounds):
            matrix = next(factors)
            if self.rank is not None:
                matrix = ops.matmul(matrix, next(factors))
            matrices.append(matrix)
        return matrices

    def mogrify(self, x, h, factors):
        """The r rounds on (x_t, h_{t-1}); `factors` as `extra_weight_values()[2 or 3:]`."""
        for i, matrix in enumerate(self.round_matrices(factors), start=1):
            if i % 2:
                x = 2.0 * self.recurrent_activation(ops.matmul(h, matrix)) * x
            else:
                h = 2.0 * self.recurrent_activation(ops.matmul(x, matrix)) * h
        return x, h

    def step(self, xz, hz, states, extra):
        if self.rounds == 0:
            return super().step(xz, hz, states, extra)
        kernel, recurrent_kernel = extra[0], extra[1]
        bias = extra[2] if self.use_bias else None
        x, h_in = self.mogrify(xz, hz, extra[3 if self.use_bias else 2 :])
        xz = ops.matmul(x, kernel)
        xz = xz if bias is None else xz + bias
        return super().step(xz, ops.matmul(h_in, recurrent_kernel), states, [])

    def get_config(self):
        return {
            **super().get_config(),
            "rounds": self.rounds,
            "rank": self.rank,
            "mogrifier_initializer": keras.initializers.serialize(self.mogrifier_initializer),
        }
