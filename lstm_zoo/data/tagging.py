"""Tagged sentences -> vocabularies and padded tf.data batches for sequence taggers."""

from __future__ import annotations

from collections import Counter

import numpy as np
import tensorflow as tf

from lstm_zoo.data.batching import check_bucket_boundaries
from lstm_zoo.text.tokenizer import normalize_tokens
from lstm_zoo.text.vocabulary import PAD, UNK
from lstm_zoo.validation import check_int


def build_tagging_vocabularies(sentences, max_words=None, min_count=1, lowercase=False):
    """(words, tags): words by frequency with 0 = padding, 1 = unknown (`<unk>`); tags sorted.

    Raises:
        ValueError: max_words < 3 (padding, unknown and one word), min_count < 1, or
            a sentence that is not a (words, tags) pair of equal lengths.
    """
    check_int("max_words", max_words, low=3, none=True)
    check_int("min_count", min_count, low=1)
    _check_pairs(sentences)
    counts = Counter(w for words, _ in sentences for w in normalize_tokens(words, lowercase))
    ordered = [w for w in sorted(counts, key=lambda w: -counts[w]) if counts[w] >= min_count]
    if max_words is not None:
        ordered = ordered[: max_words - 2]
    tags = sorted({t for _, sentence_tags in sentences for t in sentence_tags})
    return [PAD, UNK] + ordered, tags


def encode_tagged(sentences, words, tags, lowercase=False):
    """(word ids, tag ids) per sentence; an unknown word -> 1, an unknown tag -> ValueError."""
    _check_pairs(sentences)
    word_index = {w: i for i, w in enumerate(words)}
    tag_index = {t: i for i, t in enumerate(tags)}
    word_ids, tag_ids = [], []
    for number, (sentence_words, sentence_tags) in enumerate(sentences):
        folded = normalize_tokens(sentence_words, lowercase)  # the rule of lstm_zoo.text
        word_ids.append([word_index.get(w, 1) for w in folded])
        try:
            tag_ids.append([tag_index[t] for t in sentence_tags])
        except KeyError as error:
            raise ValueError(f"sentence {number}: unknown tag {error.args[0]!r}") from None
    return word_ids, tag_ids


def build_character_vocabulary(sentences, min_count=1):
    """Characters of the training words by frequency (ties in code-point order), after
    0 = padding and 1 = unknown character.

    Args:
        sentences: (words, tags) pairs or word lists.
        min_count: int. Rarer characters are left out (they encode as 1, unknown).
    """
    check_int("min_count", min_count, low=1)
    counts = Counter(ch for words in _words_of(sentences) for w in words for ch in w)
    ordered = sorted((c for c in counts if counts[c] >= min_count), key=lambda c: (-counts[c], c))
    return [PAD, UNK] + ordered


def encode_characters(sentences, characters):
    """Per sentence, per word, the list of its character ids (an unknown character -> 1).

    Words are never truncated: the batches are as wide as their longest word.

    Args:
        sentences: (words, tags) pairs or word lists.
        characters: the vocabulary of `build_character_vocabulary`.

    Raises:
        ValueError: an empty word (it would look like padding), naming sentence and position.
    """
    index = {c: i for i, c in enumerate(characters)}
    encoded = []
    for number, words in enumerate(_words_of(sentences)):
        sentence = []
        for position, word in enumerate(words):
            if not word:
                raise ValueError(f"sentence {number}, word {position}: empty word")
            sentence.append([index.get(ch, 1) for ch in word])
        encoded.append(sentence)
    return encoded


def _check_pairs(sentences):
    for number, sentence in enumerate(sentences):
        if not (isinstance(sentence, (tuple, list)) and len(sentence) == 2):
            raise ValueError(f"sentence {number}: expected a (words, tags) pair; got {sentence!r}")
        words, tags = sentence
        if isinstance(words, str) or isinstance(tags, str):
            raise ValueError(f"sentence {number}: words and tags must be lists, not strings")
        if len(words) != len(tags):
            raise ValueError(f"sentence {number}: {len(words)} words but {len(tags)} tags")


def _words_of(sentences):
    for sentence in sentences:
        is_pair = isinstance(sentence, tuple) and len(sentence) == 2
        yield sentence[0] if is_pair and not isinstance(sentence[0], str) else sentence


def tagging_dataset(
    word_ids,
    tag_ids,
    batch_size=32,
    shuffle=False,
    seed=0,
    char_ids=None,
    bucket_boundaries=None,
    pad_time_to_multiple=None,
):
    """A tf.data.Dataset of (word ids, tag ids), both [batch, longest], padded with 0 (the
    padding is masked by the model's embedding, so padded tag 0 never counts).

    With `char_ids` (from `encode_characters`) the inputs are {"tokens": [batch, longest],
    "characters": [batch, longest, longest word]}, padded with 0 per batch.

    Args:
        word_ids, tag_ids: lists of per-sentence id lists (from `encode_tagged`).
        batch_size: int. Sentences per batch.
        shuffle: bool. Reshuffle the sentences every epoch.
        seed: int. Shuffle seed.
        char_ids: per-sentence, per-word character id lists, or None.
        bucket_boundaries: sorted sentence lengths, or None. Batch sentences of similar length
            together (`bucket_by_sequence_length`) to cut padding.
        pad_time_to_multiple: int or None. Pad each batch's time axis up to a multiple of this
            (more masked padding words), so that layers compiled per shape (the zoo's XLA
            loops) meet few distinct lengths.

    Raises:
        ValueError: a sentence whose words, tags or character lists differ in number, an empty
            sentence, a bad batch_size, bucket_boundaries or pad_time_to_multiple.
    """
    check_int("batch_size", batch_size)
    check_int("pad_time_to_multiple", pad_time_to_multiple, none=True)
    if bucket_boundaries is not None:
        bucket_boundaries = check_bucket_boundaries(bucket_boundaries)
    if len(word_ids) != len(tag_ids):
        raise ValueError(f"{len(word_ids)} sentences of word ids but {len(tag_ids)} of tag ids")
    for number, words in enumerate(word_ids):
        if len(words) == 0:
            raise ValueError(f"sentence {number} has no words (it would be all padding)")
    for number, (words, tags) in enumerate(zip(word_ids, tag_ids, strict=True)):
        if len(words) != len(tags) or (
            char_ids is not None and len(char_ids[number]) != len(words)
        ):
            chars = "" if char_ids is None else f", {len(char_ids[number])} character lists"
            raise ValueError(f"sentence {number}: {len(words)} words, {len(tags)} tags{chars}")
    lengths = np.array([len(w) for w in word_ids], dtype=np.int64)
    words = _ragged(word_ids, [lengths])
    tags = _ragged(tag_ids, [lengths])
    if char_ids is None:
        data = tf.data.Dataset.from_tensor_slices((words, tags))
        data = data.map(lambda w, t: (w, t))  # ragged rows of rank 1 -> dense rows
    else:
        word_lengths = np.array([len(c) for s in char_ids for c in s], dtype=np.int64)
        chars = _ragged([c for s in char_ids for c in s], [lengths, word_lengths])
        data = tf.data.Dataset.from_tensor_slices((words, chars, tags))
        data = data.map(lambda w, c, t: ({"tokens": w, "characters": c.to_tensor()}, t))
    if shuffle:
        data = data.shuffle(len(word_ids), seed=seed, reshuffle_each_iteration=True)
    if bucket_boundaries:
        data = data.bucket_by_sequence_length(
            lambda x, t: tf.shape(t)[0],
            list(bucket_boundaries),
            [batch_size] * (len(bucket_boundaries) + 1),
        )
    else:
        data = data.padded_batch(batch_size)
    if pad_time_to_multiple:
        data = data.map(lambda x, t: _pad_time(x, t, pad_time_to_multiple))
    return data.prefetch(tf.data.AUTOTUNE)


def _pad_time(x, tags, multiple):
    extra = (-tf.shape(tags)[1]) % multiple

    def padded(tensor):
        paddings = [[0, 0], [0, extra]] + [[0, 0]] * (len(tensor.shape) - 2)
        return tf.pad(tensor, paddings)

    return tf.nest.map_structure(padded, x), padded(tags)


def _ragged(rows, nested_lengths):
    """A RaggedTensor of int32 from lists nested as `nested_lengths` says (fast, via numpy)."""
    flat = [v for row in rows for v in row]
    return tf.RaggedTensor.from_nested_row_lengths(
        np.asarray(flat, dtype=np.int32).reshape(-1), nested_lengths
    )


def pad(sequences, value=0):
    """A [n, longest] int32 array of the sequences, right-padded with `value`."""
    if len(sequences) == 0:
        raise ValueError("pad: no sequences given")
    longest = max(len(s) for s in sequences)
    out = np.full((len(sequences), longest), value, dtype=np.int32)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = s
    return out
