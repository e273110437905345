"""Top-k over a large vocabulary in two passes: block maxima, then the best blocks only.

`tf.math.top_k` and `tf.argmax` on CPU are slow on [rows, 10^4] logits (a heap or tuple
reduction per row, several times the cost of a plain reduction); at batch 32 they cost as
much as the recurrent step itself. Here the last axis is cut into blocks of `block` values:

    1. m_j = max of block j                      (one fast reduction over all values)
    2. the k blocks with the largest m_j          (top-k over n / block maxima)
    3. top-k over the k * block values of those blocks

Exact: the k largest values lie in the k blocks with the largest maxima (a block outside
them has k blocks whose maxima are distinct values at least as large). Blocks are taken in
index order, so ties go to the lowest index, as in `tf.math.top_k`.
"""

from __future__ import annotations

import math

import tensorflow as tf


def top_k(values, k, block=None):
    """`tf.math.top_k(values, k)` for rank-2 `values` with a static last dimension.

    Args:
        values: float [rows, n].
        k: int. 1 <= k <= n.
        block: int or None. Block size (default about sqrt(n)).

    Returns:
        (top values [rows, k], int32 indices [rows, k]), largest first.
    """
    n = values.shape[-1]
    if n is None or values.shape.rank != 2:
        return tf.math.top_k(values, k)
    block = block or max(int(math.isqrt(n)), 1)
    blocks = -(-n // block)
    if blocks <= k or n <= 4 * block:
        return tf.math.top_k(values, k)
    padded = values
    if blocks * block != n:
        fill = tf.fill([tf.shape(values)[0], blocks * block - n], float("-inf"))
        padded = tf.concat([values, tf.cast(fill, values.dtype)], axis=-1)  # last: never wins
    grouped = tf.reshape(padded, [-1, blocks, block])
    _, best_blocks = tf.math.top_k(tf.reduce_max(grouped, axis=-1), k)
    best_blocks = tf.sort(best_blocks, axis=-1)  # index order: ties go to the lowest index
    candidates = tf.reshape(tf.gather(grouped, best_blocks, batch_dims=1), [-1, k * block])
    top_values, position = tf.math.top_k(candidates, k)
    index = tf.gather(best_blocks, position // block, batch_dims=1) * block + position % block
    return top_values, index


def argmax(values, block=None):
    """`tf.argmax(values, -1)` as int32 for rank-2 values, through `top_k` (k = 1)."""
    return top_k(values, 1, block)[1][:, 0]
