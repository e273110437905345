"""Tagged sentences -> vocabularies and padded tf.data batches for sequence taggers."""

from __future__ import annotations

from collections import Counter

import numpy as np
import tensorflow as tf

PAD, OOV = "<pad>", "<oov>"


def build_tagging_vocabularies(sentences, max_words=None, min_count=1, lowercase=False):
    """(words, tags): words by frequency with 0 = padding, 1 = out-of-vocabulary; tags sorted."""
    counts = Counter(w.lower() if lowercase else w for words, _ in sentences for w in words)
    ordered = [w for w in sorted(counts, key=lambda w: -counts[w]) if counts[w] >= min_count]
    if max_words is not None:
        ordered = ordered[: max_words - 2]
    tags = sorted({t for _, sentence_tags in sentences for t in sentence_tags})
    return [PAD, OOV] + ordered, tags


def encode_tagged(sentences, words, tags, lowercase=False):
    """(word ids, tag ids) per sentence; an unknown word -> 1, an unknown tag -> ValueError."""
    word_index = {w: i for i, w in enumerate(words)}
    tag_index = {t: i for i, t in enumerate(tags)}
    word_ids, tag_ids = [], []
    for number, (sentence_words, sentence_tags) in enumerate(sentences):
        word_ids.append([word_index.get(w.lower() if lowercase else w, 1) for w in sentence_words])
        try:
            tag_ids.append([tag_index[t] for t in sentence_tags])
        except KeyError as error:
            raise ValueError(f"sentence {number}: unknown tag {error.args[0]!r}") from None
    return word_ids, tag_ids


def tagging_dataset(word_ids, tag_ids, batch_size=32, shuffle=False, seed=0):
    """A tf.data.Dataset of (word ids, tag ids), both [batch, longest], padded with 0 (the
    padding is masked by the model's embedding, so padded tag 0 never counts)."""
    words = tf.ragged.constant(word_ids, dtype=tf.int32)
    tags = tf.ragged.constant(tag_ids, dtype=tf.int32)
    data = tf.data.Dataset.from_tensor_slices((words, tags))
    if shuffle:
        data = data.shuffle(len(word_ids), seed=seed, reshuffle_each_iteration=True)
    data = data.map(lambda w, t: (w, t))  # ragged rows of rank 1 -> dense rows
    return data.padded_batch(batch_size, padded_shapes=([None], [None])).prefetch(tf.data.AUTOTUNE)


def pad(sequences, value=0):
    """A [n, longest] int32 array of the sequences, right-padded with `value`."""
    longest = max(len(s) for s in sequences)
    out = np.full((len(sequences), longest), value, dtype=np.int32)
    for i, s in enumerate(sequences):
        out[i, : len(s)] = s
    return out
