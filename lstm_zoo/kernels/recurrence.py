"""The native time loops as a differentiable TensorFlow function.

`native_recurrence` has the contract of `lstm_zoo.layers.scan.FusedScan.__call__` for one
direction: given the input projections xz of every step ([time, batch, blocks * units]),
it returns (h_seq, final_states). Its gradient runs the native backward loop for dxz, dhz and
the initial states' gradients, and leaves the large products to TensorFlow MatMuls:

    dU     = [h_in_{-1} .. h_in_{T-2}]^T [dhz_0 .. dhz_{T-1}]   (h_in = h * recurrent dropout)
    db_rec = sum_t,b dhz_t                                       (gru's recurrent bias)

Under `mixed_bfloat16` the loops take float32 xz and states and run each step's GEMM with
bf16 operands and float32 accumulation (`bf16_matmul`); h_seq and the final states return in
the layer's compute dtype.
"""

from __future__ import annotations

import tensorflow as tf

from lstm_zoo.kernels import loader


def _empty():
    return tf.zeros([0], tf.float32)


def _float(x):
    return None if x is None else tf.cast(x, tf.float32)


def eligible(cell, dtype, directions):
    """Why this call cannot run natively, or None when it can."""
    kind = getattr(cell, "native_kernel", None)
    if kind is None:
        return f"{type(cell).__name__} in this configuration has no native kernel"
    if directions != 1:
        return "a fused bidirectional loop runs on XLA"
    if tf.as_dtype(dtype) not in (tf.float32, tf.bfloat16):
        return f"compute dtype {tf.as_dtype(dtype).name} (the kernel runs float32 and bfloat16)"
    return loader.call_reason()


def native_recurrence(
    cell, xz, initial_states, kernel, bias, extra, mask=None, dropout_mask=None, training=True
):
    """Run the recurrence of `cell` natively; arguments as `FusedScan.__call__`."""
    ops = loader.load()
    kind = cell.native_kernel
    compute_dtype = xz.dtype
    bf16 = compute_dtype == tf.bfloat16
    lstm_family = kind != "gru"
    xz = _float(xz)
    kernel = _float(kernel)
    h0 = _float(initial_states[0])
    c0 = _float(initial_states[1]) if lstm_family else None
    peepholes = tf.stack([_float(w) for w in extra]) if kind == "peephole" else None
    rec_bias = _float(bias)
    mask_f = _empty() if mask is None else tf.cast(mask, tf.float32)
    # constants (Keras derives the dropout mask from ones_like(h0), which a tape may watch)
    dropout_f = _empty() if dropout_mask is None else tf.stop_gradient(_float(dropout_mask))

    inputs = [xz, kernel, h0]
    if lstm_family:
        inputs.append(c0)
    if peepholes is not None:
        inputs.append(peepholes)
    if rec_bias is not None:
        inputs.append(rec_bias)

    @tf.custom_gradient
    def recurrence(*args):
        args = list(args)
        xz_, kernel_, h0_ = args[:3]
        rest = args[3:]
        c0_ = rest.pop(0) if lstm_family else None
        peep_ = rest.pop(0) if peepholes is not None else None
        bias_ = rest.pop(0) if rec_bias is not None else None
        h_seq, c_seq, gates, aux, h_final, c_final = ops.zoo_recurrence_forward(
            xz=xz_,
            kernel=kernel_,
            rec_bias=_empty() if bias_ is None else bias_,
            h0=h0_,
            c0=_empty() if c0_ is None else c0_,
            peepholes=_empty() if peep_ is None else peep_,
            mask=mask_f,
            dropout=dropout_f,
            cell=kind,
            training=bool(training),
            bf16_matmul=bf16,
        )
        finals = [h_final, c_final] if lstm_family else [h_final]

        def grad(d_h_seq, *d_finals):
            if training:
                h_s, c_s, g_s, a_s = h_seq, c_seq, gates, aux
            else:  # recompute the forward that stores what the backward needs
                h_s, c_s, g_s, a_s, _, _ = ops.zoo_recurrence_forward(
                    xz=xz_,
                    kernel=kernel_,
                    rec_bias=_empty() if bias_ is None else bias_,
                    h0=h0_,
                    c0=_empty() if c0_ is None else c0_,
                    peepholes=_empty() if peep_ is None else peep_,
                    mask=mask_f,
                    dropout=dropout_f,
                    cell=kind,
                    training=True,
                    bf16_matmul=bf16,
                )
            d_h_seq = tf.zeros_like(h_s) if d_h_seq is None else d_h_seq
            d_h_final = d_finals[0] if d_finals and d_finals[0] is not None else _empty()
            d_c_final = (
                d_finals[1]
                if lstm_family and len(d_finals) > 1 and d_finals[1] is not None
                else _empty()
            )
            d_xz, d_hz, d_h0, d_c0, d_peep = ops.zoo_recurrence_backward(
                d_h_seq=d_h_seq,
                d_h_final=d_h_final,
                d_c_final=d_c_final,
                kernel=kernel_,
                h0=h0_,
                c0=_empty() if c0_ is None else c0_,
                peepholes=_empty() if peep_ is None else peep_,
                mask=mask_f,
                dropout=dropout_f,
                h_seq=h_s,
                c_seq=c_s,
                gates=g_s,
                aux=a_s,
                cell=kind,
                bf16_matmul=bf16,
            )
            if lstm_family:
                d_hz = d_xz
            prev_h = tf.concat([h0_[tf.newaxis], h_s[:-1]], axis=0)
            if dropout_mask is not None:
                prev_h = prev_h * dropout_f
            units, width = tf.shape(kernel_)[0], tf.shape(kernel_)[1]
            d_kernel = tf.matmul(
                tf.reshape(prev_h, [-1, units]), tf.reshape(d_hz, [-1, width]), transpose_a=True
            )
            grads = [d_xz, d_kernel, d_h0]
            if lstm_family:
                grads.append(d_c0)
            if peep_ is not None:
                grads.append(d_peep)
            if bias_ is not None:
                grads.append(tf.reduce_sum(d_hz, axis=[0, 1]))
            return grads

        return (h_seq, *finals), grad

    outputs = recurrence(*inputs)
    h_seq = tf.cast(outputs[0], compute_dtype)
    finals = [tf.cast(f, compute_dtype) for f in outputs[1:]]
    return h_seq, finals
