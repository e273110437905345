"""`TextPreprocessor`: the tokenizer rule and a `Vocabulary` as one Keras layer.

Texts (or pre-split words) -> int32 ids padded with 0, in graph, so a task model can take raw
strings in `fit`, `predict`, `evaluate`, `tf.data` maps and exported SavedModels. Its Python
twin `encode` gives the same ids (tests/text/test_preprocessor.py checks both on arbitrary
Unicode).

Example:

>>> pre = TextPreprocessor(["<pad>", "<unk>", "good", "film"], lowercase=True)
>>> pre(["A GOOD film"]).numpy().tolist()
[[1, 2, 3]]
>>> pre.encode(["A GOOD film"])
[[1, 2, 3]]
"""

from __future__ import annotations

import keras
import tensorflow as tf

from lstm_zoo.text.tokenizer import (
    check_level,
    normalize_tokens,
    tf_fold_case,
    tf_folding_table,
    tf_tokenize,
    tokenize,
)
from lstm_zoo.text.vocabulary import UNK_ID, Vocabulary


@keras.saving.register_keras_serializable(package="lstm_zoo")
class TextPreprocessor(keras.layers.Layer):
    """Strings -> token ids with `<pad>` = 0 and unknown tokens -> `<unk>` = 1.

    Args:
        vocabulary: a `Vocabulary` or its token list.
        lowercase: bool. Case-fold (simple Unicode case folding, see `lstm_zoo.text.tokenizer`).
        level: "word" (whitespace tokens) or "char" (code points).

    Call:
        [batch] strings -> [batch, longest] int32 (whitespace/char tokenization), or
        [batch, words] strings padded with "" (pre-split words; ragged also taken) ->
        [batch, words] int32 with 0 where the word is "".
    """

    def __init__(self, vocabulary, lowercase=False, level="word", **kwargs):
        kwargs.setdefault("trainable", False)
        kwargs.setdefault("dtype", "string")
        super().__init__(**kwargs)
        self.vocabulary = (
            vocabulary if isinstance(vocabulary, Vocabulary) else Vocabulary(vocabulary)
        )
        if not isinstance(lowercase, bool):
            raise ValueError(f"lowercase must be a bool; got {lowercase!r}")
        self.lowercase = lowercase
        self.level = check_level(level)
        self._tables = None

    # Python half.

    def tokenize(self, text):
        """Tokens of one text (Python)."""
        return tokenize(text, self.lowercase, self.level)

    def encode(self, texts):
        """Ids per text (Python): list of str -> list of lists of int."""
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings; got one string (wrap it in [ ])")
        return [self.vocabulary.encode(self.tokenize(text)) for text in texts]

    def encode_words(self, sentences):
        """Ids per pre-split sentence (Python): list of word lists -> list of lists of int."""
        return [
            self.vocabulary.encode(normalize_tokens(words, self.lowercase)) for words in sentences
        ]

    # TensorFlow half.

    def _lookup_tables(self):
        if self._tables is None:
            with tf.init_scope():  # eager resources, usable from any later graph
                self._tables = self._make_tables()
        return self._tables

    def _make_tables(self):
        tokens = self.vocabulary.tokens
        table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(  # "<pad>" in a text is unknown
                tf.constant(tokens[1:]), tf.range(1, len(tokens), dtype=tf.int32)
            ),
            default_value=UNK_ID,
        )
        return table, (tf_folding_table() if self.lowercase else None)

    def tokenize_tf(self, texts):
        """[batch] strings -> ragged [batch, (tokens)] strings."""
        return tf_tokenize(texts, self.lowercase, self.level, self._lookup_tables()[1])

    def lookup_tf(self, tokens):
        """String tokens (dense or ragged) -> int32 ids; "" -> 0 (padding)."""
        table, folding = self._lookup_tables()
        ragged = isinstance(tokens, tf.RaggedTensor)
        flat = tokens.flat_values if ragged else tokens
        if self.lowercase:
            flat = tf_fold_case(flat, folding)
        ids = tf.where(flat == "", 0, table.lookup(flat))
        return tokens.with_flat_values(ids) if ragged else ids

    def call(self, inputs):
        inputs = inputs if isinstance(inputs, tf.RaggedTensor) else tf.convert_to_tensor(inputs)
        if inputs.dtype != tf.string:
            raise ValueError(f"TextPreprocessor takes strings; got {inputs.dtype.name} inputs")
        if inputs.shape.rank == 1:
            return self.lookup_tf(self.tokenize_tf(inputs)).to_tensor(0)
        if inputs.shape.rank == 2:
            ids = self.lookup_tf(inputs)
            return ids.to_tensor(0) if isinstance(ids, tf.RaggedTensor) else ids
        raise ValueError(
            f"TextPreprocessor takes [batch] texts or [batch, words]; got rank {inputs.shape.rank}"
        )

    def compute_output_shape(self, input_shape):
        return (input_shape[0], None)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary": list(self.vocabulary.tokens),
            "lowercase": self.lowercase,
            "level": self.level,
        }
