"""Text in: ONE tokenizer rule (Python and in-graph TensorFlow halves, tested equal) and ONE
vocabulary type (`<pad>` = 0, `<unk>` = 1), joined in the `TextPreprocessor` layer."""

from lstm_zoo.text.preprocessor import TextPreprocessor
from lstm_zoo.text.tokenizer import (
    WHITESPACE,
    fold_case,
    tf_fold_case,
    tf_tokenize,
    tokenize,
)
from lstm_zoo.text.vocabulary import PAD, UNK, Vocabulary

__all__ = [
    "PAD",
    "UNK",
    "WHITESPACE",
    "TextPreprocessor",
    "Vocabulary",
    "fold_case",
    "tf_fold_case",
    "tf_tokenize",
    "tokenize",
]
