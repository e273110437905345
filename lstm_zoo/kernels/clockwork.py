"""The native time loops of the clockwork RNN (`clockwork.cc`) as a differentiable
TensorFlow function.

`native_clockwork_recurrence` has the contract of `lstm_zoo.layers.scan.FusedScan.__call__`
for one direction: given xz = x W + b of every step ([time, batch, units]), the states
(h, clock) and the block-triangular U (the cell's `loop_kernel`), it returns
(h_seq, [h_final, clock_final]). Its gradient runs the native backward loop for d xz and d h_0
and forms dU = H_in^T dA as one TensorFlow MatMul (h_in = h * recurrent dropout; dA = d xz,
zero for the units a step kept); the clock passes a gradient only through rows without a
real step (every real step's clock is a constant in the cell).

Under `mixed_bfloat16` the loops take float32 xz and states and run each step's GEMM with
bf16 operands and float32 accumulation.
"""

from __future__ import annotations

import tensorflow as tf

from lstm_zoo.kernels import loader
from lstm_zoo.kernels.operands import dropout_operand, empty, recurrent_inputs, step_mask


def native_clockwork_recurrence(
    cell, xz, initial_states, kernel, mask=None, dropout_mask=None, training=True
):
    """Run `cell` (a `ClockworkRNNCell`) natively; arguments as `FusedScan.__call__`."""
    ops = loader.load()
    compute_dtype = xz.dtype
    bf16 = compute_dtype == tf.bfloat16
    has_mask = mask is not None
    mask = step_mask(mask)
    dropout, has_dropout = dropout_operand(dropout_mask)
    periods = tf.constant(cell._unit_periods, tf.float32)
    cycle = float(cell.cycle)

    def forward(xz, kernel, h0, clock0, store):
        return ops.zoo_clockwork_forward(
            xz=xz,
            kernel=kernel,
            h0=h0,
            clock0=clock0,
            periods=periods,
            mask=mask,
            dropout=dropout,
            training=store,
            cycle=cycle,
            bf16_matmul=bf16,
        )

    def clock_gradient(d_clock_final, xz):
        """A real step's clock is a constant (stop_gradient in the cell): only a row without
        any real step passes its clock, and the clock's gradient, through."""
        if d_clock_final is None:
            return tf.zeros_like(initial_states[1], tf.float32)
        if has_mask:
            return d_clock_final * (1.0 - tf.reduce_max(mask, axis=0))[:, tf.newaxis]
        return d_clock_final * tf.cast(tf.equal(tf.shape(xz)[0], 0), tf.float32)

    @tf.custom_gradient
    def recurrence(xz, kernel, h0, clock0):
        outputs = forward(xz, kernel, h0, clock0, bool(training))
        h_seq, h_final, clock_final = outputs[0], outputs[3], outputs[4]

        def grad(d_h_seq, d_h_final, d_clock_final):
            # an inference forward stored nothing: recompute the one the backward reads
            stored = outputs if training else forward(xz, kernel, h0, clock0, True)
            seq, candidate, clocks = stored[:3]
            d_xz, d_h0 = ops.zoo_clockwork_backward(
                d_h_seq=tf.zeros_like(seq) if d_h_seq is None else d_h_seq,
                d_h_final=empty() if d_h_final is None else d_h_final,
                kernel=kernel,
                periods=periods,
                mask=mask,
                dropout=dropout,
                candidate=candidate,
                clocks=clocks,
                cycle=cycle,
                bf16_matmul=bf16,
            )
            h_in = recurrent_inputs(h0, seq, dropout, has_dropout)
            units = tf.shape(kernel)[0]
            d_kernel = tf.matmul(
                tf.reshape(h_in, [-1, units]), tf.reshape(d_xz, [-1, units]), transpose_a=True
            )
            return d_xz, d_kernel, d_h0, clock_gradient(d_clock_final, xz)

        return (h_seq, h_final, clock_final), grad

    h_seq, h_final, clock_final = recurrence(
        *(tf.cast(v, tf.float32) for v in (xz, kernel, *initial_states[:2]))
    )
    return tf.cast(h_seq, compute_dtype), [
        tf.cast(s, compute_dtype) for s in (h_final, clock_final)
    ]
