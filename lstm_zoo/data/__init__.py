"""Readers that turn files into tf.data pipelines."""

from lstm_zoo.data.batching import batch_by_length, length_bucket_boundaries
from lstm_zoo.data.files import dataset_path
from lstm_zoo.data.lm import lm_windows, read_lm_tokens
from lstm_zoo.text.vocabulary import Vocabulary  # the one vocabulary type, re-exported

__all__ = [
    "Vocabulary",
    "batch_by_length",
    "dataset_path",
    "length_bucket_boundaries",
    "lm_windows",
    "read_lm_tokens",
]
