"""An embedding whose matrix also produces the output logits (tied input/output embeddings)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


def token_embedding(vocab_size=None, embeddings=None, embedding_dim=100, trainable=True):
    """The masked (`mask_zero=True`) token embedding of the factories, named "token_embedding".

    Args:
        vocab_size: int. Rows to train from scratch (when `embeddings` is None).
        embeddings: float [vocab, dim] or None. Pretrained vectors (row 0 = padding).
        embedding_dim: int. Width when trained from scratch.
        trainable: bool. Fine-tune pretrained vectors (from scratch they always train).

    Raises:
        ValueError: neither given, a matrix that is not 2-D, or a size that disagrees.
    """
    if embeddings is None and vocab_size is None:
        raise ValueError("pass `embeddings` (a pretrained matrix) or `vocab_size`")
    initializer = "uniform"
    if embeddings is not None:
        embeddings = np.asarray(embeddings, dtype="float32")
        if embeddings.ndim != 2:
            raise ValueError(f"embeddings must be [vocab, dim]; got shape {embeddings.shape}")
        if vocab_size is not None and vocab_size != embeddings.shape[0]:
            raise ValueError(
                f"vocab_size={vocab_size} but the embedding matrix has {embeddings.shape[0]} rows"
            )
        vocab_size, embedding_dim = embeddings.shape
        initializer = keras.initializers.Constant(embeddings)
    return keras.layers.Embedding(
        vocab_size,
        embedding_dim,
        mask_zero=True,
        trainable=trainable or embeddings is None,
        embeddings_initializer=initializer,
        name="token_embedding",
    )


@keras.saving.register_keras_serializable(package="lstm_zoo")
class ReversibleEmbedding(keras.layers.Embedding):
    """`keras.layers.Embedding` that, called with `reverse=True`, maps vectors to logits with
    the transposed embedding matrix (Press & Wolf 2017; Inan et al. 2017): logits = h E^T.

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
