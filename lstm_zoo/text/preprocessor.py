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
        characters: list of str or None. A character vocabulary ("<pad>" = 0, "<unk>" = 1,
            then one code point per entry): the call then returns {"tokens": ids,
            "characters": [batch, words, chars] ids} with each word's characters as written
            (case kept even when `lowercase`), for character-feature taggers.

    Call:
        [batch] strings -> [batch, longest] int32 (whitespace/char tokenization), or
        [batch, words] strings padded with "" (pre-split words; ragged also taken) ->
        [batch, words] int32 with 0 where the word is "".
    """

    def __init__(self, vocabulary, lowercase=False, level="word", characters=None, **kwargs):
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
        if characters is not None:
            characters = [str(c) for c in characters]
            if len(characters) < 3 or characters[:2] != ["<pad>", "<unk>"]:
                raise ValueError('characters must start with "<pad>", "<unk>" and one more')
            if self.level != "word":
                raise ValueError('characters need level="word"')
            seen = {}
            for position, character in enumerate(characters):
                if character in seen:
                    raise ValueError(
                        f"characters: {character!r} appears twice (ids {seen[character]} and "
                        f"{position})"
                    )
                seen[character] = position
        self.characters = characters
        self._tables = None
        self._char_table = None

    # Python half.

    def tokenize(self, text):
        """Tokens of one text (Python)."""
        return tokenize(text, self.lowercase, self.level)

    def encode(self, texts):
        """Ids per text (Python): list of str -> list of lists of int."""
        if isinstance(texts, str):
            raise ValueError("texts must be a list of strings; got one string (wrap it in [ ])")
        if self.characters is not None:
            return self.encode_words([tokenize(text, False, self.level) for text in texts])
        return [self.vocabulary.encode(self.tokenize(text)) for text in texts]

    def encode_words(self, sentences):
        """Ids per pre-split sentence (Python): list of word lists -> list of lists of int
        (with `characters`: {"tokens": that, "characters": per word its character ids})."""
        ids = [
            self.vocabulary.encode(normalize_tokens(words, self.lowercase)) for words in sentences
        ]
        if self.characters is None:
            return ids
        index = {c: i for i, c in enumerate(self.characters) if i > 1}
        chars = [[[index.get(c, UNK_ID) for c in word] for word in words] for words in sentences]
        return {"tokens": ids, "characters": chars}

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

    def lookup_characters_tf(self, tokens):
        """String words [batch, words] (dense, "" = padding, or ragged) -> int32 character ids
        [batch, words, chars] padded with 0; unknown characters -> 1."""
        if self._char_table is None:
            with tf.init_scope():
                chars = self.characters
                self._char_table = tf.lookup.StaticHashTable(
                    tf.lookup.KeyValueTensorInitializer(
                        tf.constant(chars[2:]), tf.range(2, len(chars), dtype=tf.int32)
                    ),
                    default_value=UNK_ID,
                )
        if not isinstance(tokens, tf.RaggedTensor):
            tokens = tf.RaggedTensor.from_tensor(tokens)
        split = tf.strings.unicode_split(tokens.flat_values, "UTF-8")
        ids = split.with_flat_values(self._char_table.lookup(split.flat_values))
        return tokens.with_flat_values(ids).to_tensor(0)

    def call(self, inputs):
        inputs = inputs if isinstance(inputs, tf.RaggedTensor) else tf.convert_to_tensor(inputs)
        if inputs.dtype != tf.string:
            raise ValueError(f"TextPreprocessor takes strings; got {inputs.dtype.name} inputs")
        if self.characters is not None:
            if inputs.shape.rank == 1:
                inputs = tf_tokenize(inputs, False, self.level, None)
            elif inputs.shape.rank != 2:
                raise ValueError(
                    f"TextPreprocessor takes [batch] texts or [batch, words]; got rank "
                    f"{inputs.shape.rank}"
                )
            ids = self.lookup_tf(inputs)
            ids = ids.to_tensor(0) if isinstance(ids, tf.RaggedTensor) else ids
            chars = self.lookup_characters_tf(inputs)
            return {"tokens": ids, "characters": chars[:, : tf.shape(ids)[1]]}
        if inputs.shape.rank == 1:
            return self.lookup_tf(self.tokenize_tf(inputs)).to_tensor(0)
        if inputs.shape.rank == 2:
            ids = self.lookup_tf(inputs)
            return ids.to_tensor(0) if isinstance(ids, tf.RaggedTensor) else ids
        raise ValueError(
            f"TextPreprocessor takes [batch] texts or [batch, words]; got rank {inputs.shape.rank}"
        )

    def compute_output_shape(self, input_shape):
        if self.characters is not None:
            return {"tokens": (input_shape[0], None), "characters": (input_shape[0], None, None)}
        return (input_shape[0], None)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary": list(self.vocabulary.tokens),
            "lowercase": self.lowercase,
            "level": self.level,
            "characters": self.characters,
        }
