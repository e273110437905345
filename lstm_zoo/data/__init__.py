"""Readers that turn files into tf.data pipelines."""

from lstm_zoo.data.files import dataset_path
from lstm_zoo.data.lm import Vocabulary, lm_windows, read_lm_tokens

__all__ = ["Vocabulary", "dataset_path", "lm_windows", "read_lm_tokens"]
