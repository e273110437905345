"""The native time loops of the layer-normalised LSTM (`layer_norm_lstm.cc`) as a
differentiable TensorFlow function.

`native_layer_norm_recurrence` has the contract of `lstm_zoo.layers.scan.FusedScan.__call__`
for one direction: given xz = LN(x W; g_x, b_x) + b of every step ([time, batch, 4 units]),
the states (h, c), U and the cell's extra weights (g_h, b_h, g_c, b_c: the recurrent and state
norms' gains and biases), it returns (h_seq, [h_final, c_final]). Its gradient runs the native
backward loop, which returns d xz, dHZ (the gradient of h_in U before its norm), the initial
states' and the norms' gradients; dU = H_in^T dHZ is one TensorFlow MatMul (h_in = h *
recurrent dropout).

Under `mixed_bfloat16` the loops take float32 xz and states and run each step's GEMM with
bf16 operands and float32 accumulation; the norms and states stay float32.
"""

from __future__ import annotations

import tensorflow as tf

from lstm_zoo.kernels import loader
from lstm_zoo.kernels.operands import dropout_operand, empty, recurrent_inputs, step_mask


def native_layer_norm_recurrence(
    cell, xz, initial_states, kernel, extra, mask=None, dropout_mask=None, training=True
):
    """Run `cell` (a `LayerNormLSTMCell`) natively; arguments as `FusedScan.__call__`."""
    ops = loader.load()
    compute_dtype = xz.dtype
    bf16 = compute_dtype == tf.bfloat16
    mask = step_mask(mask)
    dropout, has_dropout = dropout_operand(dropout_mask)
    epsilon = float(cell.norm_epsilon)
    operands = [tf.cast(v, tf.float32) for v in (xz, kernel, *initial_states[:2], *extra)]

    def forward(xz, kernel, h0, c0, norms, state_norm, store):
        return ops.zoo_layer_norm_lstm_forward(
            xz=xz,
            kernel=kernel,
            h0=h0,
            c0=c0,
            norms=norms,
            state_norm=state_norm,
            mask=mask,
            dropout=dropout,
            training=store,
            epsilon=epsilon,
            bf16_matmul=bf16,
        )

    @tf.custom_gradient
    def recurrence(xz, kernel, h0, c0, gamma_h, beta_h, gamma_c, beta_c):
        norms = tf.stack([gamma_h, beta_h])
        state_norm = tf.stack([gamma_c, beta_c])
        outputs = forward(xz, kernel, h0, c0, norms, state_norm, bool(training))
        h_seq, h_final, c_final = outputs[0], outputs[5], outputs[6]

        def grad(d_h_seq, d_h_final, d_c_final):
            # an inference forward stored nothing: recompute the one the backward reads
            stored = outputs if training else forward(xz, kernel, h0, c0, norms, state_norm, True)
            seq, c_seq, gates, xhat, stats = stored[:5]
            d_xz, d_hz, d_h0, d_c0, d_norms, d_state = ops.zoo_layer_norm_lstm_backward(
                d_h_seq=tf.zeros_like(seq) if d_h_seq is None else d_h_seq,
                d_h_final=empty() if d_h_final is None else d_h_final,
                d_c_final=empty() if d_c_final is None else d_c_final,
                kernel=kernel,
                c0=c0,
                norms=norms,
                state_norm=state_norm,
                mask=mask,
                dropout=dropout,
                c_seq=c_seq,
                gates=gates,
                xhat=xhat,
                stats=stats,
                bf16_matmul=bf16,
            )
            h_in = recurrent_inputs(h0, seq, dropout, has_dropout)
            units, width = tf.shape(kernel)[0], tf.shape(kernel)[1]
            d_kernel = tf.matmul(
                tf.reshape(h_in, [-1, units]), tf.reshape(d_hz, [-1, width]), transpose_a=True
            )
            return (d_xz, d_kernel, d_h0, d_c0, d_norms[0], d_norms[1], d_state[0], d_state[1])

        return (h_seq, h_final, c_final), grad

    h_seq, h_final, c_final = recurrence(*operands)
    return tf.cast(h_seq, compute_dtype), [tf.cast(s, compute_dtype) for s in (h_final, c_final)]
