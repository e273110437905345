"""Operands the native loops share: an absent operand, the step mask and the recurrent dropout
mask as the ops take them, and the recurrent inputs of every step for the weight gradients."""

from __future__ import annotations

import tensorflow as tf


def empty():
    """An absent optional operand (the ops read an empty tensor as none)."""
    return tf.zeros([0], tf.float32)


def step_mask(mask):
    """The [time, batch] mask as float32, or empty (every step real)."""
    return empty() if mask is None else tf.cast(mask, tf.float32)


def dropout_operand(dropout_mask):
    """(the recurrent dropout mask as a float32 constant or empty, whether there is one).
    A constant: Keras derives it from ones_like(h0), which a tape may watch."""
    if dropout_mask is None:
        return empty(), False
    return tf.stop_gradient(tf.cast(dropout_mask, tf.float32)), True


def recurrent_inputs(h0, h_seq, dropout, has_dropout):
    """h_in of every step: [h_0, h_1 .. h_{T-1}] (time first) times the dropout mask."""
    h_in = tf.concat([h0[tf.newaxis], h_seq[:-1]], axis=0)
    return h_in * dropout if has_dropout else h_in
