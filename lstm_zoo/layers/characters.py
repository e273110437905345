"""Character-level word features: each word's characters -> a bidirectional recurrent layer ->
its final forward and backward states (Ling et al. 2015; Lample et al. 2016; Plank et al. 2016).

For a word w = c_1 .. c_m (padding characters, id 0, take no part)

    f = LSTM_fwd(e(c_1), ..., e(c_m))[m],   b = LSTM_bwd(e(c_m), ..., e(c_1))[m],
    char_features(w) = [f; b]

Padding words (no character other than 0) get zero features and cost nothing: only the words
that have characters are gathered and encoded.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from lstm_zoo.layers.bidirectional import Bidirectional
from lstm_zoo.layers.embedding import TokenEmbedding
from lstm_zoo.layers.registry import recurrent_layer


@keras.saving.register_keras_serializable(package="lstm_zoo")
class CharacterEncoder(keras.layers.Layer):
    """Character ids [batch, time, chars] (0 = padding) -> word features [batch, time, 2 units].

    Args:
        vocab_size: int. Size of the character vocabulary (0 = padding, 1 = unknown char).
        embedding_dim: int. Width of the character embedding.
        units: int. Units of each direction of the character encoder.
        cell: str. A recurrent-layer registry name ("lstm", "zoo_lstm", ...).
        recurrent_kwargs: dict or None. Passed to the recurrent layer.

    Example:

    >>> encoder = CharacterEncoder(30, embedding_dim=8, units=4)
    >>> encoder(ops.ones((2, 5, 7), "int32")).shape
    (2, 5, 8)
    """

    def __init__(
        self, vocab_size, embedding_dim=25, units=25, cell="lstm", recurrent_kwargs=None, **kwargs
    ):
        super().__init__(**kwargs)
        if vocab_size < 3:
            raise ValueError(
                f"vocab_size must count padding, unknown and at least one character; "
                f"got {vocab_size}"
            )
        self.vocab_size = int(vocab_size)
        self.embedding_dim = int(embedding_dim)
        self.units = int(units)
        self.cell = cell
        self.recurrent_kwargs = dict(recurrent_kwargs or {})
        # Character ids outside [0, vocab_size) are an error (eager and graph) or, under XLA,
        # read the unknown character's row (id 1): see `TokenEmbedding`.
        self.embedding = TokenEmbedding(
            self.vocab_size,
            self.embedding_dim,
            unknown_id=1,
            mask_zero=True,
            name="char_embedding",
        )
        self.encoder = Bidirectional(
            recurrent_layer(cell, self.units, name="char_encoder", **self.recurrent_kwargs),
            name="char_bidirectional",
        )

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"CharacterEncoder expects character ids [batch, time, chars]; "
                f"got shape {tuple(input_shape)}"
            )
        self.embedding.build((None, input_shape[-1]))
        self.encoder.build((None, input_shape[-1], self.embedding_dim))

    def call(self, characters):
        characters = tf.cast(characters, tf.int32)
        shape = tf.shape(characters)
        words = tf.reshape(characters, [-1, shape[2]])  # [batch * time, chars]
        has_chars = tf.reduce_any(words != 0, axis=1)
        positions = tf.cast(tf.where(has_chars), tf.int32)  # [real words, 1]
        real = tf.gather_nd(words, positions)
        features = self.encoder(self.embedding(real))  # the embedding's mask drops padding
        scattered = tf.scatter_nd(
            positions, features, tf.stack([tf.shape(words)[0], 2 * self.units], axis=0)
        )
        return tf.reshape(scattered, [shape[0], shape[1], 2 * self.units])

    def compute_mask(self, inputs, mask=None):
        return None  # the word mask comes from the word ids (see `WordFeatures`)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], 2 * self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "cell": self.cell,
            "recurrent_kwargs": self.recurrent_kwargs,
        }


@keras.saving.register_keras_serializable(package="lstm_zoo")
class WordFeatures(keras.layers.Concatenate):
    """Concatenate on the last axis whose output mask is the first input's (the word-id mask).

    `keras.layers.Concatenate` ORs its inputs' masks and takes an unmasked input as all True,
    which would unmask padding words; here the word embedding's mask alone decides.
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(axis=axis, **kwargs)

    def compute_mask(self, inputs, mask=None):
        return None if mask is None else mask[0]
