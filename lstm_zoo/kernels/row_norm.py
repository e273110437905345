"""The native row layer norm (`row_norm.cc`) as a differentiable TensorFlow function: the
layer-norm LSTM's input projection LN(x W; g_x, b_x) + b on the native path.

    x^ = (v - mean v) / sqrt(var v + eps);   y = x^ g + b_n + b      (over the last axis)

Its gradient is the native backward (dv, and dg, db_n = db as sums over the rows).
"""

from __future__ import annotations

import tensorflow as tf

from lstm_zoo.kernels import loader
from lstm_zoo.kernels.operands import empty


def native_row_norm(v, gamma, beta, bias=None, epsilon=1e-3):
    """LN(v; gamma, beta) (+ bias) over the last axis of float32 `v` of any leading shape."""
    ops = loader.load()
    # Variables as tensors: a variable read inside the custom gradient would be hidden.
    gamma, beta = tf.convert_to_tensor(gamma), tf.convert_to_tensor(beta)
    has_bias = bias is not None
    shape = tf.shape(v)
    flat = tf.reshape(v, [-1, shape[-1]])

    @tf.custom_gradient
    def norm(flat, gamma, beta, *b):
        y, stats = ops.zoo_row_norm(
            v=flat, gamma=gamma, beta=beta, bias=b[0] if has_bias else empty(), epsilon=epsilon
        )

        def grad(dy):
            dv, d_gamma, d_beta = ops.zoo_row_norm_grad(dy=dy, v=flat, stats=stats, gamma=gamma)
            return [dv, d_gamma, d_beta] + ([d_beta] if has_bias else [])

        return y, grad

    y = norm(flat, gamma, beta, *([tf.convert_to_tensor(bias)] if has_bias else []))
    return tf.reshape(y, shape)
