"""Text classification data: label-then-text lines (SST), CSV (IMDB) -> padded (optionally
length-bucketed) tf.data batches."""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections import Counter

import numpy as np
import tensorflow as tf

from lstm_zoo.data.batching import batch_by_length, check_lengths_fit
from lstm_zoo.data.files import check_file, gzip_problem, open_binary, read_lines
from lstm_zoo.text.tokenizer import tokenize
from lstm_zoo.text.vocabulary import PAD, UNK
from lstm_zoo.validation import check_int, check_labels


def read_labelled_lines(path):
    """(texts, labels as written, line numbers) of `LABEL TEXT` lines (a space or a tab after
    the label; blank lines skipped): the one reader of the format, for `lstm-zoo train`,
    `evaluate` and fine-tuning alike.

    Raises:
        ValueError: a line without text, or a file without examples (file and line).
    """
    texts, labels, numbers = [], [], []
    for number, line in read_lines(path):
        if not line.strip():
            continue
        fields = line.strip().split(None, 1)
        if len(fields) < 2 or not fields[1].strip():
            raise ValueError(f"{path}:{number}: label {fields[0]!r} has no text")
        labels.append(fields[0])
        texts.append(fields[1].strip())
        numbers.append(number)
    if not texts:
        raise ValueError(f"{path}: the file holds no examples")
    return texts, labels, numbers


def read_label_text_lines(path, labels=("0", "1")):
    """Read lines `LABEL TEXT` (SST's `stsa.binary.*`: `1 a tokenized sentence`; a space or a
    tab after the label, `read_labelled_lines`).

    Returns:
        (texts, label ids): label ids index into `labels`.

    Raises:
        ValueError: an unknown label, a line without text, or an empty file (file and line).
    """
    labels = check_labels("labels", labels)
    label_index = {label: i for i, label in enumerate(labels)}
    texts, written, numbers = read_labelled_lines(path)
    for label, number in zip(written, numbers):
        if label not in label_index:
            raise ValueError(f"{path}:{number}: unknown label {label!r}; expected one of {labels}")
    return texts, np.array([label_index[label] for label in written], dtype=np.int32)


_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def read_text_label_csv(
    path, text_column="review", label_column="label", labels=("neg", "pos"), clean_html=True
):
    """Read a CSV with a header (IMDB here: `id,label,rating,review`), plain or `.gz`.

    Args:
        text_column, label_column: header names of the text and the label.
        labels: the label values in class order (label id = position).
        clean_html: replace `<br />` line breaks with spaces.

    Returns:
        (texts, label ids).

    Raises:
        ValueError: a missing column, an unknown label, an empty text or no rows (file and
            line).
    """
    path = check_file(path)
    labels = check_labels("labels", labels)
    if text_column == label_column:
        raise ValueError(f"text_column and label_column are both {text_column!r}")
    label_index = {label: i for i, label in enumerate(labels)}
    texts, targets = [], []
    reader = None
    try:
        with open_binary(path) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, strict=True)  # an unclosed quote is an error
            for column in (text_column, label_column):
                if column not in (reader.fieldnames or []):
                    raise ValueError(
                        f"{path}:1: no column {column!r}; columns: {reader.fieldnames}"
                    )
            width = len(reader.fieldnames)
            for row in reader:
                if None in row or None in row.values():
                    fields = width + len(row.get(None, ())) - list(row.values()).count(None)
                    raise ValueError(
                        f"{path}:{reader.line_num}: {fields} fields, the header has {width}"
                    )
                label, text = row[label_column], row[text_column]
                if label not in label_index:
                    raise ValueError(
                        f"{path}:{reader.line_num}: unknown label {label!r}; expected {labels}"
                    )
                if not text or not text.strip():
                    raise ValueError(f"{path}:{reader.line_num}: empty {text_column!r}")
                texts.append(_HTML_BREAK.sub(" ", text) if clean_html else text)
                targets.append(label_index[label])
    except UnicodeDecodeError as error:
        line = reader.line_num + 1 if reader is not None else 1
        raise ValueError(f"{path}:{line}: not valid UTF-8 ({error.reason})") from None
    except csv.Error as error:
        line = reader.line_num if reader is not None else 1
        raise ValueError(f"{path}:{line}: not valid CSV ({error})") from None
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        line = reader.line_num + 1 if reader is not None else 1
        raise ValueError(f"{path}:{line}: {gzip_problem(error)}") from None
    if not texts:
        raise ValueError(f"{path}: the file holds no rows")
    return texts, np.array(targets, dtype=np.int32)


def build_vocabulary(texts, max_size=None, min_count=1, lowercase=False):
    """Tokens by frequency: index 0 = padding, 1 = unknown (`<unk>`), then the words.

    Raises:
        ValueError: max_size < 3 (padding, unknown and one word) or min_count < 1.
    """
    check_int("max_size", max_size, low=3, none=True)
    check_int("min_count", min_count, low=1)
    if isinstance(texts, str):
        raise ValueError("texts must be a list of strings; got one string")
    counts = Counter(t for text in texts for t in _tokens(text, lowercase))
    ordered = [t for t in sorted(counts, key=lambda t: -counts[t]) if counts[t] >= min_count]
    if max_size is not None:
        ordered = ordered[: max_size - 2]
    return [PAD, UNK] + ordered


def encode_texts(texts, vocabulary, lowercase=False, max_length=None):
    """Token ids per text (unknown words -> 1). Texts longer than `max_length` raise ValueError
    unless max_length is None; nothing is truncated silently."""
    check_int("max_length", max_length, none=True)
    if isinstance(texts, str):
        raise ValueError("texts must be a list of strings; got one string")
    index = {t: i for i, t in enumerate(vocabulary)}
    encoded = []
    for position, text in enumerate(texts):
        ids = [index.get(t, 1) for t in _tokens(text, lowercase)]
        if max_length is not None and len(ids) > max_length:
            raise ValueError(
                f"text {position} has {len(ids)} tokens, more than max_length={max_length}"
            )
        encoded.append(ids)
    return encoded


def classification_dataset(
    encoded,
    labels,
    batch_size=32,
    shuffle=False,
    seed=0,
    bucket_boundaries=None,
    pad_to_bucket_boundary=False,
):
    """A tf.data.Dataset of (ids [batch, longest in batch], labels), padded with 0, prefetched.

    Args:
        encoded: list of lists of token ids (see `encode_texts`).
        labels: int array, one label per text.
        batch_size: int. Examples per batch.
        shuffle: bool. Reshuffle all examples at every pass (before bucketing).
        seed: int. Shuffle seed.
        bucket_boundaries: None (batches in order, each padded to its longest text) or
            strictly increasing lengths: texts are grouped into length buckets
            ([0, b_0), [b_0, b_1), ..., [b_last, inf)) and each batch is drawn from one
            bucket, so padding shrinks. Every text still appears exactly once per pass with
            its own label; see `lstm_zoo.data.batching`.
        pad_to_bucket_boundary: bool. Pad each bucket's batches to its boundary - 1 (one
            shape per bucket); needs every text shorter than the last boundary (else
            ValueError naming the text).
    """
    if len(encoded) != len(labels):
        raise ValueError(f"{len(encoded)} texts but {len(labels)} labels")
    check_int("batch_size", batch_size)
    _check_class_ids(labels)
    for position, ids in enumerate(encoded):
        if len(ids) == 0:
            raise ValueError(f"text {position} has no tokens (it would be all padding)")
    if pad_to_bucket_boundary and bucket_boundaries is not None:
        check_lengths_fit([len(ids) for ids in encoded], bucket_boundaries)
    ragged = tf.ragged.constant(encoded, dtype=tf.int32)
    data = tf.data.Dataset.from_tensor_slices((ragged, np.asarray(labels)))
    if shuffle:
        data = data.shuffle(len(encoded), seed=seed, reshuffle_each_iteration=True)
    data = data.map(lambda ids, label: (ids, label))  # ragged rows of rank 1 -> dense rows
    data = batch_by_length(
        data, batch_size, ([None], []), bucket_boundaries, pad_to_bucket_boundary
    )
    return data.prefetch(tf.data.AUTOTUNE)


def _check_class_ids(labels):
    array = np.asarray(labels)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise ValueError(f"labels must be a 1-D list of integer class ids; got {array.dtype}")
    if array.size and array.min() < 0:
        raise ValueError(f"labels: class id {int(array.min())} at {int(array.argmin())} is < 0")


def _tokens(text, lowercase):
    """The words of a text by the one rule of `lstm_zoo.text` (what the task models, their
    exports and `lstm-zoo evaluate` apply)."""
    return tokenize(text, lowercase)


def text_vectorizer(texts, max_tokens=None, standardize="lower_and_strip_punctuation"):
    """A `keras.layers.TextVectorization` adapted to `texts`: raw strings -> ids with the same
    convention as `build_vocabulary` (0 = padding, 1 = unknown (`<unk>`)), so it can sit in
    front of any factory model (and inside an exported graph)."""
    import keras

    vectorizer = keras.layers.TextVectorization(
        max_tokens=max_tokens, standardize=standardize, output_mode="int"
    )
    vectorizer.adapt(tf.constant(list(texts)))
    return vectorizer


def raw_text_dataset(
    texts,
    labels,
    vectorizer,
    batch_size=32,
    shuffle=False,
    seed=0,
    bucket_boundaries=None,
    pad_to_bucket_boundary=False,
):
    """(ids, labels) batches from raw strings through `vectorizer` (padded per batch).

    Args:
        texts, labels: raw strings and their int labels.
        vectorizer: a `keras.layers.TextVectorization` (e.g. from `text_vectorizer`) without
            `output_sequence_length`, so nothing is cut.
        batch_size, shuffle, seed, bucket_boundaries, pad_to_bucket_boundary: as in
            `classification_dataset`. With buckets, each text is vectorized on its own (its
            length decides the bucket); without, each batch is vectorized at once.
    """
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    check_int("batch_size", batch_size)
    _check_class_ids(labels)
    data = tf.data.Dataset.from_tensor_slices((list(texts), np.asarray(labels)))
    if shuffle:
        data = data.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
    if bucket_boundaries is None and not pad_to_bucket_boundary:
        data = data.batch(batch_size).map(lambda text, label: (vectorizer(text), label))
    else:
        data = data.map(lambda text, label: (vectorizer(text[tf.newaxis])[0], label))
        data = batch_by_length(
            data, batch_size, ([None], []), bucket_boundaries, pad_to_bucket_boundary
        )
    return data.prefetch(tf.data.AUTOTUNE)
