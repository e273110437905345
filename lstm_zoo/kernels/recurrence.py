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

from typing import NamedTuple

import tensorflow as tf

from lstm_zoo.kernels import loader
from lstm_zoo.kernels.clockwork import native_clockwork_recurrence
from lstm_zoo.kernels.depth_gated import native_depth_gated_recurrence
from lstm_zoo.kernels.layer_norm_lstm import native_layer_norm_recurrence
from lstm_zoo.kernels.mogrifier import native_mogrifier_recurrence
from lstm_zoo.kernels.mutated_units import KINDS as MUT_KINDS
from lstm_zoo.kernels.mutated_units import native_mut_recurrence
from lstm_zoo.kernels.operands import dropout_operand, recurrent_inputs, step_mask
from lstm_zoo.kernels.operands import empty as _empty


def _float(x):
    return None if x is None else tf.cast(x, tf.float32)


def _or_empty(x):
    return _empty() if x is None else x


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


def native_projection(inputs, kernel, bias=None):
    """xz = inputs W (+ b) for float32 inputs of any leading shape, by the native
    `ZooProjection` op (MKL's sgemm on the intra-op threads); the gradient is TensorFlow's
    MatMuls (dx = dxz W^T, dW = x^T dxz, db = sum dxz)."""
    ops = loader.load()
    # Variables as tensors: a variable read inside the custom gradient would be hidden.
    kernel = tf.convert_to_tensor(kernel)
    bias = None if bias is None else tf.convert_to_tensor(bias)
    width = tf.shape(kernel)[1]
    leading = tf.shape(inputs)[:-1]
    flat = tf.reshape(inputs, [-1, tf.shape(inputs)[-1]])
    has_bias = bias is not None

    @tf.custom_gradient
    def project(x, w, *b):
        y = ops.zoo_projection(x=x, w=w, b=b[0] if has_bias else _empty())

        def grad(dy):
            grads = [tf.matmul(dy, w, transpose_b=True), tf.matmul(x, dy, transpose_a=True)]
            return grads + ([tf.reduce_sum(dy, axis=0)] if has_bias else [])

        return y, grad

    xz = project(flat, kernel, *([bias] if has_bias else []))
    return tf.reshape(xz, tf.concat([leading, [width]], axis=0))


class _Operands(NamedTuple):
    """The float32 tensors the native ops read; None where the cell has no such operand."""

    xz: tf.Tensor
    kernel: tf.Tensor
    h0: tf.Tensor
    c0: tf.Tensor | None
    peepholes: tf.Tensor | None
    rec_bias: tf.Tensor | None

    def present(self):
        """The operands that exist (what the custom gradient differentiates), in order."""
        return [t for t in self if t is not None]

    def like(self, tensors):
        """The same presence pattern filled with `tensors` (as `present` lists them)."""
        tensors = iter(tensors)
        return _Operands(*(None if t is None else next(tensors) for t in self))

    def op_arguments(self):
        """Keyword arguments of both ops (absent operands as empty tensors)."""
        return {
            "kernel": self.kernel,
            "h0": self.h0,
            "c0": _or_empty(self.c0),
            "peepholes": _or_empty(self.peepholes),
        }


class _NativeLoop:
    """One call's native forward and backward: the cell kind, its masks and precision."""

    def __init__(self, kind, mask, dropout_mask, bf16):
        self.ops = loader.load()
        self.kind, self.bf16 = kind, bf16
        self.lstm_family = kind != "gru"
        self.mask = step_mask(mask)
        self.dropout, self.has_dropout = dropout_operand(dropout_mask)

    def forward(self, w, training):
        """(h_seq, c_seq, gates, aux, h_final, c_final); the stored sequences only when
        `training` (the backward reads them)."""
        return self.ops.zoo_recurrence_forward(
            xz=w.xz,
            rec_bias=_or_empty(w.rec_bias),
            mask=self.mask,
            dropout=self.dropout,
            cell=self.kind,
            training=training,
            bf16_matmul=self.bf16,
            **w.op_arguments(),
        )

    def gradients(self, w, stored, d_h_seq, d_finals):
        """Gradients of `w.present()` from those of h_seq and the final states; `stored` =
        (h_seq, c_seq, gates, aux) of a training forward. dU = H_in^T dHZ is one MatMul."""
        h_seq = stored[0]
        d_h_seq = tf.zeros_like(h_seq) if d_h_seq is None else d_h_seq
        d_h_final = d_finals[0] if d_finals and d_finals[0] is not None else _empty()
        d_c_final = d_finals[1] if len(d_finals) > 1 and d_finals[1] is not None else _empty()
        d_xz, d_hz, d_h0, d_c0, d_peep = self.ops.zoo_recurrence_backward(
            d_h_seq=d_h_seq,
            d_h_final=d_h_final,
            d_c_final=d_c_final if self.lstm_family else _empty(),
            mask=self.mask,
            dropout=self.dropout,
            h_seq=h_seq,
            c_seq=stored[1],
            gates=stored[2],
            aux=stored[3],
            cell=self.kind,
            bf16_matmul=self.bf16,
            **w.op_arguments(),
        )
        if self.lstm_family:
            d_hz = d_xz
        prev_h = recurrent_inputs(w.h0, h_seq, self.dropout, self.has_dropout)
        units, width = tf.shape(w.kernel)[0], tf.shape(w.kernel)[1]
        d_kernel = tf.matmul(
            tf.reshape(prev_h, [-1, units]), tf.reshape(d_hz, [-1, width]), transpose_a=True
        )
        d_rec_bias = None if w.rec_bias is None else tf.reduce_sum(d_hz, axis=[0, 1])
        every = (d_xz, d_kernel, d_h0, d_c0, d_peep, d_rec_bias)  # in _Operands' order
        return [d for d, operand in zip(every, w) if operand is not None]


def native_recurrence(
    cell, xz, initial_states, kernel, bias, extra, mask=None, dropout_mask=None, training=True
):
    """Run the recurrence of `cell` natively; arguments as `FusedScan.__call__`."""
    kind = cell.native_kernel
    if kind in MUT_KINDS:  # two GEMMs a step, U among the cell's extra weights
        return native_mut_recurrence(kind, xz, initial_states, extra, mask, dropout_mask, training)
    if kind == "depth_gated":  # a stack of layers in one step: its own loops
        return native_depth_gated_recurrence(
            cell, xz, initial_states, extra, mask, dropout_mask, training
        )
    if kind == "clockwork":  # a clock per row: its own loops
        return native_clockwork_recurrence(
            cell, xz, initial_states, kernel, mask, dropout_mask, training
        )
    if kind == "mogrifier":  # r gating GEMMs before the LSTM's, x W inside the step
        return native_mogrifier_recurrence(
            cell, xz, initial_states, extra, mask, dropout_mask, training
        )
    if kind == "layer_norm_lstm":  # row-wide norms: its own loops
        return native_layer_norm_recurrence(
            cell, xz, initial_states, kernel, extra, mask, dropout_mask, training
        )
    compute_dtype = xz.dtype
    loop = _NativeLoop(kind, mask, dropout_mask, bf16=compute_dtype == tf.bfloat16)
    operands = _Operands(
        xz=_float(xz),
        kernel=_float(kernel),
        h0=_float(initial_states[0]),
        c0=_float(initial_states[1]) if loop.lstm_family else None,
        peepholes=tf.stack([_float(w) for w in extra]) if kind == "peephole" else None,
        rec_bias=_float(bias),
    )

    @tf.custom_gradient
    def recurrence(*present):
        w = operands.like(present)
        h_seq, c_seq, gates, aux, h_final, c_final = loop.forward(w, bool(training))
        finals = [h_final, c_final] if loop.lstm_family else [h_final]

        def grad(d_h_seq, *d_finals):
            # an inference forward stored nothing: recompute the one the backward reads
            stored = (h_seq, c_seq, gates, aux) if training else loop.forward(w, True)[:4]
            return loop.gradients(w, stored, d_h_seq, d_finals)

        return (h_seq, *finals), grad

    outputs = recurrence(*operands.present())
    h_seq = tf.cast(outputs[0], compute_dtype)
    finals = [tf.cast(f, compute_dtype) for f in outputs[1:]]
    return h_seq, finals
