"""Token embeddings that refuse ids outside the vocabulary, and an embedding whose matrix also
produces the output logits (tied input/output embeddings).

`keras.layers.Embedding` wraps a negative id to the last rows (`ops.take`), and under XLA
(`jit_compile=True`, Keras's default for `fit` on a GPU) clamps an id >= the vocabulary size
to the last row; on a GPU without XLA such an id reads zeros. `TokenEmbedding` (and
`ReversibleEmbedding`, the language models' embedding) checks every id instead:

- eagerly: ValueError naming the layer, the id, its position and the range [0, vocab);
- in a `tf.function` graph: `tf.errors.InvalidArgumentError` with the same facts (an assertion
  of one reduction over the ids, next to nothing beside the recurrent loop);
- under XLA, where TensorFlow drops assertions (and `check_numerics`): an out-of-range id reads
  the row of `unknown_id` (the out-of-vocabulary id 1 of the classifier and tagger
  vocabularies; 0, padding, where the layer has none), never another word's row. Validate ids
  before an XLA-compiled call to get an error there too (`check_token_ids`).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from lstm_zoo.validation import check_int


def check_token_ids(ids, vocab_size, name="token ids"):
    """Raise ValueError unless every entry of the integer array `ids` is in [0, vocab_size).

    The message names `name`, the first bad id, its position and the allowed range.
    """
    array = np.asarray(ids)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name} must be integers; got dtype {array.dtype}")
    bad = (array < 0) | (array >= vocab_size)
    if bad.any():
        position = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name}: id {int(array[position])} at position {list(position)} is outside the "
            f"vocabulary [0, {vocab_size})"
        )
    return array


@keras.saving.register_keras_serializable(package="lstm_zoo")
class TokenEmbedding(keras.layers.Embedding):
    """`keras.layers.Embedding` that refuses ids outside [0, input_dim) (see the module
    docstring for what each execution mode does).

    Args:
        input_dim, output_dim, **kwargs: as `keras.layers.Embedding`.
        unknown_id: int or None. The row an out-of-range id reads under XLA, where no check can
            raise (None: 0, the padding row).

    Example:

    >>> embed = TokenEmbedding(10, 4, mask_zero=True)
    >>> embed(ops.convert_to_tensor([[1, 2, 0]])).shape
    (1, 3, 4)
    >>> embed(ops.convert_to_tensor([[1, -1]]))  # doctest: +SKIP
    ValueError: token_embedding: id -1 at position [0, 1] is outside the vocabulary [0, 10)
    """

    def __init__(self, input_dim, output_dim, unknown_id=None, **kwargs):
        super().__init__(input_dim, output_dim, **kwargs)
        if unknown_id is not None and (
            isinstance(unknown_id, bool)
            or not isinstance(unknown_id, (int, np.integer))
            or not 0 <= unknown_id < input_dim
        ):
            raise ValueError(
                f"unknown_id must be None or an id in [0, {input_dim}); got "
                f"unknown_id={unknown_id!r}"
            )
        self.unknown_id = None if unknown_id is None else int(unknown_id)

    def checked_ids(self, ids):
        """`ids` as int32/int64 after the range check of the current execution mode."""
        ids = tf.convert_to_tensor(ids)
        if not ids.dtype.is_integer:
            raise ValueError(f"{self.name}: token ids must be integers; got dtype {ids.dtype.name}")
        if ids.dtype not in (tf.int32, tf.int64):
            ids = tf.cast(ids, tf.int32)
        if tf.executing_eagerly():
            check_token_ids(ids.numpy(), self.input_dim, self.name)
            return ids
        valid = (ids >= 0) & (ids < self.input_dim)
        check = tf.debugging.Assert(
            tf.reduce_all(valid),
            [
                f"{self.name}: a token id is outside the vocabulary [0, {self.input_dim}); "
                "smallest and largest id:",
                tf.reduce_min(ids),
                tf.reduce_max(ids),
            ],
            summarize=3,
        )
        with tf.control_dependencies([check]):
            return tf.where(valid, ids, tf.cast(self.unknown_id or 0, ids.dtype))

    def call(self, inputs):
        outputs = ops.take(self.embeddings, self.checked_ids(inputs), axis=0)
        return ops.cast(outputs, dtype=self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "unknown_id": self.unknown_id}


def token_embedding(
    vocab_size=None, embeddings=None, embedding_dim=100, trainable=True, unknown_id=1
):
    """The masked (`mask_zero=True`) token embedding of the factories, named "token_embedding".

    Args:
        vocab_size: int. Rows to train from scratch (when `embeddings` is None).
        embeddings: float [vocab, dim] or None. Pretrained vectors (row 0 = padding).
        embedding_dim: int. Width when trained from scratch.
        trainable: bool. Fine-tune pretrained vectors (from scratch they always train).
        unknown_id: int or None. The out-of-vocabulary id (1 in the classifier and tagger
            vocabularies) that an out-of-range id reads under XLA (see `TokenEmbedding`).

    Raises:
        ValueError: neither given, a matrix that is not 2-D, empty or not finite, or a size
            that disagrees.
    """
    if embeddings is None and vocab_size is None:
        raise ValueError("pass `embeddings` (a pretrained matrix) or `vocab_size`")
    if vocab_size is not None:
        check_int("vocab_size", vocab_size, low=2)
    if embeddings is None:
        check_int("embedding_dim", embedding_dim)
    initializer = "uniform"
    if embeddings is not None:
        try:
            embeddings = np.asarray(embeddings, dtype="float32")
        except (TypeError, ValueError) as error:
            raise ValueError(f"embeddings must be a float matrix [vocab, dim]: {error}") from None
        if embeddings.ndim != 2 or 0 in embeddings.shape:
            raise ValueError(
                f"embeddings must be [vocab, dim] with both >= 1; got shape {embeddings.shape}"
            )
        if not np.isfinite(embeddings).all():
            row = int(np.argwhere(~np.isfinite(embeddings))[0][0])
            raise ValueError(f"embeddings: row {row} holds NaN or infinite values")
        if vocab_size is not None and vocab_size != embeddings.shape[0]:
            raise ValueError(
                f"vocab_size={vocab_size} but the embedding matrix has {embeddings.shape[0]} rows"
            )
        vocab_size, embedding_dim = (int(n) for n in embeddings.shape)
        initializer = keras.initializers.Constant(embeddings)
    if unknown_id is not None and unknown_id >= vocab_size:
        unknown_id = None  # a vocabulary too small to hold an out-of-vocabulary id
    return TokenEmbedding(
        vocab_size,
        embedding_dim,
        unknown_id=unknown_id,
        mask_zero=True,
        trainable=trainable or embeddings is None,
        embeddings_initializer=initializer,
        name="token_embedding",
    )


@keras.saving.register_keras_serializable(package="lstm_zoo")
class ReversibleEmbedding(TokenEmbedding):
    """`TokenEmbedding` that, called with `reverse=True`, maps vectors to logits with the
    transposed embedding matrix (Press & Wolf 2017; Inan et al. 2017): logits = h E^T. Ids are
    checked as `TokenEmbedding` does.

    Example:

    >>> embed = ReversibleEmbedding(10, 4)
    >>> vectors = embed(ops.ones((2, 3), "int32"))
    >>> embed(vectors, reverse=True).shape
    (2, 3, 10)
    """

    def call(self, inputs, reverse=False):
        if reverse:
            return ops.matmul(inputs, ops.transpose(self.embeddings))
        return super().call(inputs)

    def compute_mask(self, inputs, mask=None):
        if "float" in str(inputs.dtype):  # the reverse call: keep the tokens' padding mask
            return mask
        return super().compute_mask(inputs, mask)

    def compute_output_shape(self, input_shape, reverse=False):
        if reverse:
            return (*input_shape[:-1], self.input_dim)
        return super().compute_output_shape(input_shape)

    def compute_output_spec(self, inputs, reverse=False):
        if reverse:
            shape = (*inputs.shape[:-1], self.input_dim)
            return keras.KerasTensor(shape, dtype=self.compute_dtype)
        return super().compute_output_spec(inputs)
