"""Capacity buckets: the few padded shapes the compiled time loops are built for.

XLA compiles one program per input shape. So that a layer fed batches of any length and size
compiles only a few programs, the fast loop pads its inputs to a *capacity* and runs the real
number of steps as a runtime trip count (no padded step is computed; padded batch rows are
computed and dropped, and their gradients are zero).

    time capacity:  1 for one step (generation), else the next of 8, 16, 32, ..., 2^k >= T
    batch capacity: the next of 1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256 >= B, and
                    above 256 the next multiple of 256 (up to 64 also 3/4 of the powers of
                    two: at most a third of the rows are padding)
    chunk rows:     the rows one compiled program runs: the batch capacity up to 256, else
                    256 (a batch of n * 256 rows runs as n chunks of 256, one after another,
                    through the same program: rows never read each other)

Lengths 1-512 meet 8 time capacities (1, 8, 16, 32, 64, 128, 256, 512); a pipeline of full
batches plus one partial last batch meets at most 2 chunk sizes, and any batch above 256
rows (a character encoder's one row per word: hundreds of different counts) meets one.
"""

from __future__ import annotations

import tensorflow as tf

MIN_TIME_CAPACITY = 8
MAX_CHUNK_ROWS = 256


def next_power_of_two(n):
    """The smallest power of two >= n, for an int32 scalar tensor n >= 1 (bit smearing)."""
    v = tf.maximum(tf.cast(n, tf.int32), 1) - 1
    for shift in (1, 2, 4, 8, 16):
        v = tf.bitwise.bitwise_or(v, tf.bitwise.right_shift(v, shift))
    return v + 1


def time_capacity(steps):
    """The padded length the loops are compiled for, for `steps` real steps."""
    steps = tf.cast(steps, tf.int32)
    return tf.where(steps <= 1, 1, tf.maximum(next_power_of_two(steps), MIN_TIME_CAPACITY))


def batch_capacity(batch):
    """The padded batch size for `batch` real rows: a whole number of `chunk_rows` chunks."""
    batch = tf.maximum(tf.cast(batch, tf.int32), 1)
    power = next_power_of_two(batch)
    three_quarters = power // 4 * 3
    finer = tf.logical_and(tf.logical_and(power >= 8, power <= 64), batch <= three_quarters)
    chunks = (batch + MAX_CHUNK_ROWS - 1) // MAX_CHUNK_ROWS
    return tf.where(
        batch > MAX_CHUNK_ROWS, chunks * MAX_CHUNK_ROWS, tf.where(finer, three_quarters, power)
    )


def chunk_rows(batch):
    """The batch rows one compiled loop runs, for `batch` real rows (see the module doc)."""
    return tf.minimum(batch_capacity(batch), MAX_CHUNK_ROWS)
