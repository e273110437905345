"""The native time loops of the depth-gated LSTM (`depth_gated.cc`) as a differentiable
TensorFlow function.

`native_depth_gated_recurrence` has the contract of `lstm_zoo.layers.scan.FusedScan.__call__`
for one direction of a `DepthGatedLSTMCell`: given xz = x W_1 + b_1 of every step, the states
(top layer first, as the cell orders them) and the cell's extra weights, it returns (h_seq,
final states). Its gradient runs the native backward loop, which returns every layer's dZ
(layer 1's is d xz), the upper layers' dP = [dZ | dD~], the depth weights' and the initial
states' gradients; the weight gradients are TensorFlow MatMuls over all steps:

    dU_l = H_in_l^T dZ_l          (h_in = h * recurrent dropout, h_{t-1} of layer l)
    dW_l = H_{l-1}^T dP_l,  db_l = sum dP_l     (l >= 2; H_{l-1}: layer l-1's h_t)

Under `mixed_bfloat16` the loops take float32 inputs and states and run the GEMMs with
bf16 operands and float32 accumulation.
"""

from __future__ import annotations

import tensorflow as tf

from lstm_zoo.kernels import loader
from lstm_zoo.kernels.operands import dropout_operand, empty, recurrent_inputs, step_mask


def _unpack_weights(cell, extra):
    """U of every layer, and per upper layer (W, b or None, w_cd, w_ld)."""
    weights = iter(extra)
    recurrent = [next(weights)]
    upper = []
    for _ in range(2, cell.depth + 1):
        kernel, rec = next(weights), next(weights)
        bias = next(weights) if cell.use_bias else None
        upper.append((kernel, bias, next(weights), next(weights)))
        recurrent.append(rec)
    return recurrent, upper


def _layer_order(depth):
    """Index in the cell's state list of (h, c) of layer 1 .. depth."""
    return [
        (0, 1) if layer == depth else (2 * layer, 2 * layer + 1) for layer in range(1, depth + 1)
    ]


def native_depth_gated_recurrence(
    cell, xz, initial_states, extra, mask=None, dropout_mask=None, training=True
):
    """Run `cell` (a `DepthGatedLSTMCell`) natively; arguments as `FusedScan.__call__`."""
    ops = loader.load()
    compute_dtype = xz.dtype
    bf16 = compute_dtype == tf.bfloat16
    depth, units = cell.depth, cell.units
    mask = step_mask(mask)
    dropout, has_dropout = dropout_operand(dropout_mask)

    def f32(v):
        return tf.cast(v, tf.float32)

    recurrent, upper = _unpack_weights(cell, [f32(w) for w in extra])
    order = _layer_order(depth)
    states = [f32(s) for s in initial_states]
    stacked = [
        f32(xz),
        tf.stack(recurrent),
        tf.stack([w for w, _, _, _ in upper]) if upper else tf.zeros([0, units, 5 * units]),
        tf.stack([b if b is not None else tf.zeros([5 * units]) for _, b, _, _ in upper])
        if upper
        else tf.zeros([0, 5 * units]),
        tf.stack([tf.stack([cd, ld]) for _, _, cd, ld in upper])
        if upper
        else tf.zeros([0, 2, units]),
        tf.stack([states[h] for h, _ in order]),
        tf.stack([states[c] for _, c in order]),
    ]

    def forward(xz, rec, up, up_bias, depth_w, h0, c0, store):
        return ops.zoo_depth_gated_forward(
            xz=xz,
            recurrent=rec,
            upper=up,
            upper_bias=up_bias,
            depth=depth_w,
            h0=h0,
            c0=c0,
            mask=mask,
            dropout=dropout,
            training=store,
            bf16_matmul=bf16,
        )

    @tf.custom_gradient
    def recurrence(xz, rec, up, up_bias, depth_w, h0, c0):
        outputs = forward(xz, rec, up, up_bias, depth_w, h0, c0, bool(training))
        h_seq, h_final, c_final = outputs[0], outputs[5], outputs[6]

        def grad(d_h_seq, d_h_final, d_c_final):
            # an inference forward stored nothing: recompute the one the backward reads
            stored = outputs if training else forward(xz, rec, up, up_bias, depth_w, h0, c0, True)
            h_all, c_all, gates, depth_gates = stored[1:5]
            d_z, d_p, d_depth, d_h0, d_c0 = ops.zoo_depth_gated_backward(
                d_h_seq=tf.zeros_like(h_seq) if d_h_seq is None else d_h_seq,
                d_h_final=empty() if d_h_final is None else d_h_final,
                d_c_final=empty() if d_c_final is None else d_c_final,
                recurrent=rec,
                upper=up,
                depth=depth_w,
                h0=h0,
                c0=c0,
                mask=mask,
                dropout=dropout,
                h_all=h_all,
                c_all=c_all,
                gates=gates,
                depth_gates=depth_gates,
                bf16_matmul=bf16,
            )

            def flat(v):
                return tf.reshape(v, [-1, tf.shape(v)[-1]])

            h_prev = recurrent_inputs(h0, h_all, dropout, has_dropout)  # [T, D, B, N]
            d_rec = tf.stack(
                [
                    tf.matmul(flat(h_prev[:, layer]), flat(d_z[:, layer]), transpose_a=True)
                    for layer in range(depth)
                ]
            )
            d_up = [
                tf.matmul(flat(h_all[:, layer - 1]), flat(d_p[:, layer - 1]), transpose_a=True)
                for layer in range(1, depth)
            ]
            d_up = tf.stack(d_up) if d_up else tf.zeros_like(up)
            d_up_bias = tf.reduce_sum(d_p, axis=[0, 2])
            return d_z[:, 0], d_rec, d_up, d_up_bias, d_depth, d_h0, d_c0

        return (h_seq, h_final, c_final), grad

    h_seq, h_final, c_final = recurrence(*stacked)
    finals = [None] * (2 * depth)
    for layer, (h, c) in enumerate(order):
        finals[h] = tf.cast(h_final[layer], compute_dtype)
        finals[c] = tf.cast(c_final[layer], compute_dtype)
    return tf.cast(h_seq, compute_dtype), finals
