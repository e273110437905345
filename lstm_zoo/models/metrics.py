"""Perplexity: exp of the mean per-token cross-entropy, padding excluded."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="lstm_zoo")
class Perplexity(keras.metrics.Metric):
    """exp(-(1/N) sum_t log p(w_t)) over the N target tokens that are not `mask_token_id`.

    Args:
        from_logits: bool. Whether predictions are logits (default True).
        mask_token_id: int or None. Targets with this id are excluded (default 0, padding).
    """

    def __init__(self, from_logits=True, mask_token_id=0, name="perplexity", **kwargs):
        super().__init__(name=name, **kwargs)
        self.from_logits = from_logits
        self.mask_token_id = mask_token_id
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "int32")
        losses = keras.losses.sparse_categorical_crossentropy(
            y_true, y_pred, from_logits=self.from_logits
        )
        weights = ops.ones_like(losses)
        if self.mask_token_id is not None:
            weights = ops.cast(ops.not_equal(y_true, self.mask_token_id), losses.dtype)
        if sample_weight is not None:
            weights = weights * ops.cast(sample_weight, losses.dtype)
        self.total.assign_add(ops.sum(losses * weights))
        self.count.assign_add(ops.sum(weights))

    def result(self):
        return ops.exp(ops.divide_no_nan(self.total, self.count))

    def get_config(self):
        return {
            **super().get_config(),
            "from_logits": self.from_logits,
            "mask_token_id": self.mask_token_id,
        }


@keras.saving.register_keras_serializable(package="lstm_zoo")
class TokenAccuracy(keras.metrics.Metric):
    """Share of the real tokens, over all batches, whose argmax prediction is the true tag:
    sum_tokens w [argmax p = y] / sum_tokens w, with w the padding mask (times sample weights).

    Keras's masked `sparse_categorical_accuracy` first averages each sequence over its padded
    length, so batches padded to different lengths weigh their tokens differently; this counts
    every real token once.

    Args:
        name: str. Reported name (default "sparse_categorical_accuracy", the name Keras gives
            the built-in, so training logs keep their keys).
    """

    def __init__(self, name="sparse_categorical_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        mask = getattr(y_pred, "_keras_mask", None)  # the padding mask Keras attaches
        predicted = ops.argmax(y_pred, axis=-1)
        right = ops.cast(
            ops.equal(ops.cast(y_true, "int32"), ops.cast(predicted, "int32")), "float32"
        )
        weights = ops.ones_like(right)
        if mask is not None:
            weights = weights * ops.cast(mask, "float32")
        if sample_weight is not None:
            weights = weights * ops.cast(sample_weight, "float32")
        self.correct.assign_add(ops.cast(ops.sum(right * weights), self.dtype))
        self.count.assign_add(ops.cast(ops.sum(weights), self.dtype))

    def result(self):
        return ops.divide_no_nan(self.correct, self.count)
