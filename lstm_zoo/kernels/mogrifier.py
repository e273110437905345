"""The native time loops of the Mogrifier LSTM (`mogrifier.cc`) as a differentiable
TensorFlow function.

`native_mogrifier_recurrence` has the contract of `lstm_zoo.layers.scan.FusedScan.__call__`
for one direction of a `MogrifierLSTMCell` with rounds >= 1: given the raw inputs of every
step (the cell's input projection is the identity: the rounds gate x_t by h_{t-1}), the states
(h, c) and the cell's extra weights (W, U, b, then the rounds' matrices or low-rank factors),
it returns (h_seq, [h_final, c_final]). A low-rank cell's Q^i = L^i R^i are formed here, once
per call, so their gradients are TensorFlow's. The gradient runs the native backward loop,
which returns dZ (the LSTM's gate pre-activations), every round's dP_i, d x and the initial
states' gradients; from the trace the training forward stored (x^i, h^i and each round's
gate s_i of every step) the weight gradients are TensorFlow MatMuls over all steps:

    d[W; U] = [X^last | H^last]^T dZ,   db = sum dZ
    dQ^i = H^{i-1 T} dP_i  (odd i),     dR^i = X^{i-1 T} dP_i  (even i)

Under `mixed_bfloat16` the loops take float32 inputs and states and run the GEMMs with bf16
operands and float32 accumulation.
"""

from __future__ import annotations

import tensorflow as tf

from lstm_zoo.kernels import loader
from lstm_zoo.kernels.operands import dropout_operand, empty, step_mask


def trace_layout(inputs, units, rounds):
    """Column offsets in a row of the forward's trace: {'x': {i: offset of x^i (i = -1 or
    odd)}, 'h': {i: offset of h^i (i even)}, 'gate': {i: offset of s_i}, 'width': {i: M or
    N}, 'grad': {i: offset of dP_i in a row of d_p}} (`TraceLayout` in mogrifier.cc)."""
    layout = {"x": {-1: 0}, "h": {0: inputs}, "gate": {}, "width": {}, "grad": {}}
    at, grad = inputs + units, 0
    for i in range(1, rounds + 1):
        width = inputs if i % 2 else units
        layout["x" if i % 2 else "h"][i] = at
        layout["gate"][i], layout["width"][i], layout["grad"][i] = at + width, width, grad
        at, grad = at + 2 * width, grad + width
    return layout


def native_mogrifier_recurrence(
    cell, x, initial_states, extra, mask=None, dropout_mask=None, training=True
):
    """Run `cell` (a `MogrifierLSTMCell`, rounds >= 1) natively; arguments as
    `FusedScan.__call__` (`x` is the cell's input projection: the inputs themselves)."""
    ops = loader.load()
    compute_dtype = x.dtype
    bf16 = compute_dtype == tf.bfloat16
    mask = step_mask(mask)
    dropout, _ = dropout_operand(dropout_mask)  # h^0 = h_{t-1} * mask, in both loops
    weights = [tf.cast(w, tf.float32) for w in extra]
    kernel, recurrent_kernel = weights[0], weights[1]
    has_bias = cell.use_bias
    bias = weights[2] if has_bias else None
    matrices = cell.round_matrices(weights[3 if has_bias else 2 :])
    inputs, units, rounds = kernel.shape[0], cell.units, cell.rounds
    layout = trace_layout(inputs, units, rounds)
    last_x = rounds if rounds % 2 else rounds - 1
    last_h = rounds - 1 if rounds % 2 else rounds

    def forward(x, wu, bias, h0, c0, matrices, store):
        return ops.zoo_mogrifier_forward(
            x=x,
            wu=wu,
            bias=empty() if bias is None else bias,
            h0=h0,
            c0=c0,
            mask=mask,
            dropout=dropout,
            mogrifier=matrices,
            training=store,
            bf16_matmul=bf16,
        )

    def columns(values, offset, width):
        """values[..., offset:offset + width] as [steps * batch, width]."""
        return tf.reshape(values[:, :, offset : offset + width], [-1, width])

    @tf.custom_gradient
    def recurrence(x, kernel, recurrent_kernel, h0, c0, *rest):
        bias = rest[0] if has_bias else None
        matrices = list(rest[1:] if has_bias else rest)
        wu = tf.concat([kernel, recurrent_kernel], axis=0)
        outputs = forward(x, wu, bias, h0, c0, matrices, bool(training))
        h_seq, h_final, c_final = outputs[0], outputs[4], outputs[5]

        def grad(d_h_seq, d_h_final, d_c_final):
            # an inference forward stored nothing: recompute the one the backward reads
            stored = outputs if training else forward(x, wu, bias, h0, c0, matrices, True)
            c_seq, gates, trace = stored[1:4]
            d_z, d_p, d_x, d_h0, d_c0 = ops.zoo_mogrifier_backward(
                d_h_seq=tf.zeros_like(h_seq) if d_h_seq is None else d_h_seq,
                d_h_final=empty() if d_h_final is None else d_h_final,
                d_c_final=empty() if d_c_final is None else d_c_final,
                wu=wu,
                c0=c0,
                mask=mask,
                dropout=dropout,
                c_seq=c_seq,
                gates=gates,
                trace=trace,
                mogrifier=matrices,
                bf16_matmul=bf16,
            )
            flat_dz = tf.reshape(d_z, [-1, 4 * units])
            last = tf.concat(
                [
                    columns(trace, layout["x"][last_x], inputs),
                    columns(trace, layout["h"][last_h], units),
                ],
                axis=1,
            )
            d_wu = tf.matmul(last, flat_dz, transpose_a=True)
            d_rounds = []
            for i in range(1, rounds + 1):
                # odd: the gate reads h^{i-1} (N wide); even: x^{i-1} (M wide)
                other = (
                    columns(trace, layout["h"][i - 1], units)
                    if i % 2
                    else columns(trace, layout["x"][i - 1], inputs)
                )
                d_pre = columns(d_p, layout["grad"][i], layout["width"][i])
                d_rounds.append(tf.matmul(other, d_pre, transpose_a=True))
            d_bias = [tf.reduce_sum(flat_dz, axis=0)] if has_bias else []
            return [d_x, d_wu[:inputs], d_wu[inputs:], d_h0, d_c0, *d_bias, *d_rounds]

        return (h_seq, h_final, c_final), grad

    states = [tf.cast(s, tf.float32) for s in initial_states[:2]]
    h_seq, h_final, c_final = recurrence(
        tf.cast(x, tf.float32),
        kernel,
        recurrent_kernel,
        *states,
        *([bias] if has_bias else []),
        *matrices,
    )
    return tf.cast(h_seq, compute_dtype), [tf.cast(s, compute_dtype) for s in (h_final, c_final)]
