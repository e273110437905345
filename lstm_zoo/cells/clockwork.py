"""Clockwork RNN (Koutník, Greff, Gomez & Schmidhuber 2014, "A clockwork RNN", ICML, §3)."""

from __future__ import annotations

import math

import numpy as np
from keras import ops

from lstm_zoo.cells.base import RecurrentCell, _name, read_value
from lstm_zoo.cells.registry import register_cell


@register_cell("clockwork", layer_name="ClockworkRNN", description="clockwork RNN, Koutník 2014")
class ClockworkRNNCell(RecurrentCell):
    """Clockwork RNN (Koutník et al. 2014, §3): the hidden units form g equal modules, module
    i with period T_i (`periods`, in that order in h_t: module i holds units
    [i * units/g, (i + 1) * units/g)). At step t

        module i active at t  <=>  t mod T_i == 0
        h_t[i] = phi(x_t W[:, i] + h_{t-1} U[:, i] + b[i])   if active, else h_{t-1}[i]

    The recurrent matrix is block upper-triangular in the paper's ordering by period (W_H h;
    in Keras's h U layout, `recurrent_kernel` is its transpose): module j feeds module i only
    if T_j >= T_i (slower modules feed faster ones, every module itself); the other blocks of
    `recurrent_kernel` are zero (initialised so, and multiplied
    by the connectivity in every step, so they never act nor receive a gradient).

    The clock t counts the steps of the sequence from 0 at its first step. It is the cell's
    second state ([batch, 1], kept modulo lcm(periods), so exact in any float type), which a
    masked step carries unchanged like every state: padding (left, right or in between)
    does not shift the clock of the real steps, a stateful layer continues the clock across
    calls, and `return_state` returns [h, clock].

    Args: `units` (divisible by the number of periods), `periods` (positive ints, default
    (1, 2, 4, 8)), `activation` (phi, default tanh), and the initializers, regularizers,
    constraints, `use_bias`, dropout and seed of `RecurrentCell` (`recurrent_activation` is
    accepted and unused).
    """

    gate_names = ("h",)
    state_names = ("hidden", "clock")

    def __init__(self, units, periods=(1, 2, 4, 8), **kwargs):
        super().__init__(units, **kwargs)
        periods = tuple(periods) if isinstance(periods, (list, tuple)) else periods
        if (
            not isinstance(periods, tuple)
            or not periods
            or any(isinstance(p, bool) or not isinstance(p, int) or p < 1 for p in periods)
        ):
            raise ValueError(
                f"`periods` must be a non-empty list of positive ints; got periods={periods!r}."
            )
        if units % len(periods):
            raise ValueError(
                f"`units` must be divisible by the number of periods ({len(periods)}); got "
                f"units={units}, periods={periods}."
            )
        self.periods = periods
        self.cycle = math.lcm(*periods)
        self.state_size = [units, 1]
        size = units // len(periods)
        self._unit_periods = np.repeat(np.array(periods, "float64"), size)
        # connectivity[j, i] = 1 where unit j (input of h U) feeds unit i: T_j >= T_i
        self._connectivity = (self._unit_periods[:, None] >= self._unit_periods[None, :]).astype(
            "float64"
        )

    def build(self, input_shape):
        base = self.recurrent_initializer
        connectivity = self._connectivity

        def block_triangular(shape, dtype=None):
            return base(shape, dtype=dtype) * ops.cast(connectivity, dtype or "float32")

        self.recurrent_initializer = block_triangular
        try:
            super().build(input_shape)
        finally:
            self.recurrent_initializer = base

    @property
    def native_kernel(self):
        """'clockwork' with phi = tanh (`lstm_zoo/kernels/clockwork.cc`)."""
        exact = type(self) is ClockworkRNNCell  # subclasses opt in themselves
        return "clockwork" if exact and _name(self.activation) == "tanh" else None

    def loop_kernel(self):
        kernel = read_value(self.recurrent_kernel)
        return kernel * ops.cast(self._connectivity, kernel.dtype)

    def step(self, xz, hz, states, extra):
        h_prev, clock = states
        periods = ops.cast(self._unit_periods, h_prev.dtype)
        active = ops.equal(ops.mod(clock, periods), 0.0)  # [batch, units]
        candidate = self.activation(xz + hz)
        h = ops.where(active, candidate, h_prev)
        cycle = ops.cast(self.cycle, clock.dtype)  # a float constant would promote bfloat16
        next_clock = ops.stop_gradient(ops.mod(clock + 1.0, cycle))
        return h, [h, next_clock], (candidate, ops.cast(active, h.dtype))

    def named_gates(self, saved):
        candidate, active = saved
        return {"active": active, "candidate": candidate}

    def get_config(self):
        return {**super().get_config(), "periods": list(self.periods)}
