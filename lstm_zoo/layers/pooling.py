"""Pooling over time that respects the padding mask (Keras's GlobalMaxPooling1D ignores it)."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="lstm_zoo")
class MaskedGlobalPooling1D(keras.layers.Layer):
    """[batch, time, features] -> [batch, features], over the real (unmasked) steps only.

    max:  y_b = max_{t : m_bt} x_bt      mean: y_b = sum_t m_bt x_bt / sum_t m_bt

    A sequence with no real step gives zeros. Without a mask every step counts.

    Args:
        mode: "max" or "mean".

    Example:

    >>> x = ops.convert_to_tensor([[[1.0], [5.0], [9.0]]])
    >>> MaskedGlobalPooling1D("max")(x, mask=ops.convert_to_tensor([[True, True, False]]))
    ... # -> [[5.0]]: the padded 9 is ignored
    """

    def __init__(self, mode="max", **kwargs):
        super().__init__(**kwargs)
        if mode not in ("max", "mean"):
            raise ValueError(f"mode must be 'max' or 'mean'; got {mode!r}")
        self.mode = mode
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        mask = ops.cast(mask, "bool")[:, :, None]
        count = ops.sum(ops.cast(mask, inputs.dtype), axis=1)
        if self.mode == "mean":
            total = ops.sum(ops.where(mask, inputs, ops.zeros_like(inputs)), axis=1)
            return total / ops.maximum(count, 1.0)
        lowest = ops.full_like(inputs, float("-inf"))
        pooled = ops.max(ops.where(mask, inputs, lowest), axis=1)
        return ops.where(count > 0, pooled, ops.zeros_like(pooled))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
