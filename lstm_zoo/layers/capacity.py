"""Capacity buckets: the few padded shapes the compiled time loops are built for.

XLA compiles one program per input shape. So that a layer fed batches of any length and size
compiles only a few programs, the fast loop pads its inputs to a *capacity* and runs the real
number of steps as a runtime trip count (no padded step is computed; padded batch rows are
computed and dropped, and their gradients are zero).

    time capacity:  1 for one step (generation), else the next of 8, 16, 32, ..., 2^k >= T
    batch capacity: the next of 1, 2, 4, 6, 8, 12, 16, 24, 32, 48, 64, 128, 256, ... >= B up
                    to the chunk limit, and above it the next multiple of the limit (up to
                    64 also 3/4 of the powers of two: at most a third of the rows are padding)
    chunk rows:     the rows one compiled program runs: the batch capacity up to the limit,
                    else the limit (a batch of n chunks runs them one after another through
                    the same program: rows never read each other)
    chunk limit:    256 rows on CPU, where a step's work grows with its rows and a chunk
                    costs only its per-step overhead; 1,024 where a GPU or TPU is visible,
                    where a step of 512 rows costs about what 256 do, so that the batch sizes
                    people train with there still run as one loop

Lengths 1-512 meet 8 time capacities (1, 8, 16, 32, 64, 128, 256, 512); a pipeline of full
batches plus one partial last batch meets at most 2 chunk sizes, and every batch above the
limit (a character encoder's one row per word: hundreds of different counts) meets one.
"""

from __future__ import annotations

import tensorflow as tf

MIN_TIME_CAPACITY = 8
CPU_CHUNK_ROWS = 256
ACCELERATOR_CHUNK_ROWS = 1024


def chunk_limit():
    """The most batch rows one compiled loop runs here (see the module doc)."""
    accelerators = tf.config.list_logical_devices("GPU") + tf.config.list_logical_devices("TPU")
    return ACCELERATOR_CHUNK_ROWS if accelerators else CPU_CHUNK_ROWS


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


def batch_capacity(batch, limit=CPU_CHUNK_ROWS):
    """The padded batch size for `batch` real rows: whole chunks of `chunk_rows` rows."""
    batch = tf.maximum(tf.cast(batch, tf.int32), 1)
    power = next_power_of_two(batch)
    three_quarters = power // 4 * 3
    finer = tf.logical_and(tf.logical_and(power >= 8, power <= 64), batch <= three_quarters)
    chunks = (batch + limit - 1) // limit
    ladder = tf.where(finer, three_quarters, power)
    return tf.where(batch > limit, chunks * limit, ladder)


def chunk_rows(batch, limit=CPU_CHUNK_ROWS):
    """The batch rows one compiled loop runs, for `batch` real rows (see the module doc)."""
    return tf.minimum(batch_capacity(batch, limit), limit)
