"""The native time loops of MUT1, MUT2 and MUT3 (`mutated_units.cc`) as a differentiable
TensorFlow function.

`native_mut_recurrence` has the contract of `lstm_zoo.layers.scan.FusedScan.__call__` for
one direction of a cell that does its own recurrent matmuls: given xz = [x_z | x_r | x_h]
of every step ([time, batch, 3 units], the cell's `input_projection`) and the recurrent
kernel U (the cell's only extra weight), it returns (h_seq, [h_final]). Its gradient runs the
native backward loop for d xz = [dz~ | dr~ | dn~] (the gates' pre-activations) and d h_0, and
forms dU from them as large TensorFlow MatMuls over all steps, with H_in = [h_in_0 ..
h_in_{T-1}] (h_in = h * recurrent dropout) and R the reset gates:

    MUT1:  dU = [H_in^T dR~ | (R * H_in)^T dN~]
    MUT2:  dU = [H_in^T [dZ~ | dR~] | (R * H_in)^T dN~]
    MUT3:  dU = [phi(H_in)^T dZ~ | H_in^T dR~ | (R * H_in)^T dN~]

Under `mixed_bfloat16` the loops take float32 xz and state and run each step's GEMMs with
bf16 operands and float32 accumulation; h_seq and the final state return in the layer's
compute dtype.
"""

from __future__ import annotations

import tensorflow as tf

from lstm_zoo.kernels import loader
from lstm_zoo.kernels.operands import dropout_operand, empty, recurrent_inputs, step_mask

KINDS = ("mut1", "mut2", "mut3")


def _kernel_gradient(kind, h_in, gates, d_xz, units):
    """dU from the stored gates, the recurrent inputs and d xz of every step."""

    def flat(v, width=1):
        return tf.reshape(v, [-1, width * units])

    _, r, _ = tf.split(gates, 3, axis=-1)
    d_gates, d_candidate = d_xz[..., : 2 * units], d_xz[..., 2 * units :]
    d_z, d_r = d_gates[..., :units], d_gates[..., units:]
    if kind == "mut1":
        blocks = [tf.matmul(flat(h_in), flat(d_r), transpose_a=True)]
    elif kind == "mut2":
        blocks = [tf.matmul(flat(h_in), flat(d_gates, 2), transpose_a=True)]
    else:
        blocks = [
            tf.matmul(flat(tf.tanh(h_in)), flat(d_z), transpose_a=True),
            tf.matmul(flat(h_in), flat(d_r), transpose_a=True),
        ]
    blocks.append(tf.matmul(flat(r * h_in), flat(d_candidate), transpose_a=True))
    return tf.concat(blocks, axis=1)


def native_mut_recurrence(
    kind, xz, initial_states, extra, mask=None, dropout_mask=None, training=True
):
    """Run MUT1/2/3 (`kind`) natively; arguments as `FusedScan.__call__` (the cell's
    recurrent kernel is `extra[0]`)."""
    ops = loader.load()
    compute_dtype = xz.dtype
    bf16 = compute_dtype == tf.bfloat16
    mask = step_mask(mask)
    dropout, has_dropout = dropout_operand(dropout_mask)
    (kernel,) = extra
    operands = [
        tf.cast(xz, tf.float32),
        tf.cast(kernel, tf.float32),
        tf.cast(initial_states[0], tf.float32),
    ]

    def forward(xz, kernel, h0, store):
        return ops.zoo_mut_forward(
            xz=xz,
            kernel=kernel,
            h0=h0,
            mask=mask,
            dropout=dropout,
            cell=kind,
            training=store,
            bf16_matmul=bf16,
        )

    @tf.custom_gradient
    def recurrence(xz, kernel, h0):
        h_seq, gates, h_final = forward(xz, kernel, h0, bool(training))

        def grad(d_h_seq, d_h_final):
            # an inference forward stored nothing: recompute the one the backward reads
            seq, saved = (h_seq, gates) if training else forward(xz, kernel, h0, True)[:2]
            d_xz, d_h0 = ops.zoo_mut_backward(
                d_h_seq=tf.zeros_like(seq) if d_h_seq is None else d_h_seq,
                d_h_final=empty() if d_h_final is None else d_h_final,
                kernel=kernel,
                h0=h0,
                mask=mask,
                dropout=dropout,
                h_seq=seq,
                gates=saved,
                cell=kind,
                bf16_matmul=bf16,
            )
            h_in = recurrent_inputs(h0, seq, dropout, has_dropout)
            d_kernel = _kernel_gradient(kind, h_in, saved, d_xz, tf.shape(kernel)[0])
            return d_xz, d_kernel, d_h0

        return (h_seq, h_final), grad

    h_seq, h_final = recurrence(*operands)
    return tf.cast(h_seq, compute_dtype), [tf.cast(h_final, compute_dtype)]
