"""Batching variable-length examples: padded batches, optionally bucketed by sequence length.

Bucketing (`tf.data.Dataset.bucket_by_sequence_length`) groups examples of similar length so a
batch is padded only to its own longest member, which stays close to its shortest: with
boundaries b_0 < b_1 < ... < b_{n-1} an example of length L goes to bucket i with
b_{i-1} <= L < b_i (b_{-1} = 0, b_n = infinity), and a batch holds examples of one bucket only.
Every example appears exactly once per pass (the last, partial batch of each bucket is kept);
nothing is truncated. Only the order of examples changes.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def check_bucket_boundaries(bucket_boundaries):
    """The boundaries as a list of ints; ValueError unless strictly increasing positive ints."""
    boundaries = list(bucket_boundaries)
    if not boundaries:
        raise ValueError("bucket_boundaries must hold at least one length; got []")
    for value in boundaries:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"bucket_boundaries must be positive ints; got {boundaries}")
    if any(b <= a for a, b in zip(boundaries, boundaries[1:])):
        raise ValueError(f"bucket_boundaries must be strictly increasing; got {boundaries}")
    return [int(b) for b in boundaries]


def check_lengths_fit(lengths, bucket_boundaries):
    """ValueError naming the first example of length >= the last boundary (for
    `pad_to_bucket_boundary=True`, where such an example has no bucket)."""
    limit = check_bucket_boundaries(bucket_boundaries)[-1]
    for position, length in enumerate(lengths):
        if length >= limit:
            raise ValueError(
                f"example {position} has {length} tokens; pad_to_bucket_boundary=True needs "
                f"every length < the last bucket boundary {limit}"
            )


def length_bucket_boundaries(lengths, num_buckets=8):
    """Boundaries that split `lengths` into about `num_buckets` equally full buckets.

    The boundaries are the (k / num_buckets)-quantiles of the lengths (k = 1..num_buckets-1),
    plus one, deduplicated: each bucket then holds about the same number of examples.

    Args:
        lengths: sequence of int. The lengths of the training examples.
        num_buckets: int >= 2.

    Returns:
        A strictly increasing list of ints for `bucket_boundaries`.
    """
    if isinstance(num_buckets, bool) or not isinstance(num_buckets, (int, np.integer)):
        raise ValueError(f"num_buckets must be an integer >= 2; got num_buckets={num_buckets!r}")
    if num_buckets < 2:
        raise ValueError(f"num_buckets must be at least 2; got {num_buckets}")
    lengths = np.asarray(lengths)
    if lengths.size == 0:
        raise ValueError("lengths is empty")
    quantiles = np.quantile(lengths, np.arange(1, num_buckets) / num_buckets, method="lower")
    boundaries = sorted({int(q) + 1 for q in quantiles})
    return boundaries


def batch_by_length(
    data,
    batch_size,
    padded_shapes,
    bucket_boundaries=None,
    pad_to_bucket_boundary=False,
):
    """Padded batches of `data`, bucketed by the length of each element's first component.

    Args:
        data: a `tf.data.Dataset` whose elements are tuples; the first component is the
            1-D sequence whose length decides the bucket (the other components ride along).
        batch_size: int. Examples per batch (the last batch of each bucket may be smaller).
        padded_shapes: the `padded_shapes` of `padded_batch`, e.g. `([None], [])`.
        bucket_boundaries: None (plain `padded_batch` in the incoming order) or strictly
            increasing lengths b_0 < ... < b_{n-1} (see the module docstring).
        pad_to_bucket_boundary: bool. Pad every batch of bucket i to b_i - 1 (a fixed shape
            per bucket, so compiled time loops see few shapes) instead of to its longest
            member. Needs every length < b_{n-1}; a longer element makes the pipeline raise
            (a `tf.errors.OpError` naming the assertion) rather than being dropped or cut.
            Callers that know the lengths should check first (`check_lengths_fit`).

    Returns:
        The batched `tf.data.Dataset` (padded with 0).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise ValueError(f"batch_size must be an integer >= 1; got batch_size={batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}")
    if bucket_boundaries is None:
        if pad_to_bucket_boundary:
            raise ValueError("pad_to_bucket_boundary=True needs bucket_boundaries")
        return data.padded_batch(batch_size, padded_shapes=padded_shapes)
    boundaries = check_bucket_boundaries(bucket_boundaries)
    return data.bucket_by_sequence_length(
        element_length_func=lambda first, *rest: tf.shape(first)[0],
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padded_shapes=padded_shapes,
        pad_to_bucket_boundary=pad_to_bucket_boundary,
    )
