"""An embedding whose matrix also produces the output logits (tied input/output embeddings)."""

from __future__ import annotations

import keras
from keras import ops


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
