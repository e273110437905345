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
