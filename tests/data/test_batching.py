import numpy as np
import pytest

from lstm_zoo.data.batching import (
    check_bucket_boundaries,
    check_lengths_fit,
    length_bucket_boundaries,
)
from lstm_zoo.data.classification import (
    classification_dataset,
    raw_text_dataset,
    text_vectorizer,
)

BOUNDARIES = [4, 8, 16]


def _examples(n=61, seed=0):
    """Example i: `lengths[i]` copies of token i + 1, label i (so a row says whose it is)."""
    lengths = np.random.RandomState(seed).randint(1, 30, size=n)
    return [[i + 1] * int(length) for i, length in enumerate(lengths)], np.arange(n), lengths


def _bucket(length, boundaries):
    return int(np.searchsorted(boundaries, length, side="right"))


def _check_one_pass(batches, lengths, boundaries, batch_size):
    seen = []
    for ids, labels in batches:
        ids, labels = ids.numpy(), labels.numpy()
        assert 1 <= len(labels) <= batch_size
        row_lengths = (ids != 0).sum(axis=1)
        for row, label, length in zip(ids, labels, row_lengths):
            # the row is this example's own tokens, all of them, then only padding
            assert length == lengths[label]
            assert (row[:length] == label + 1).all() and (row[length:] == 0).all()
        assert ids.shape[1] == row_lengths.max()  # padded to the batch's longest only
        buckets = {_bucket(n, boundaries) for n in row_lengths}
        assert len(buckets) == 1, (row_lengths, boundaries)
        bucket = buckets.pop()
        if bucket < len(boundaries):  # a bounded bucket [low, high): padding < its width
            low = boundaries[bucket - 1] if bucket else 0
            assert row_lengths.max() - row_lengths.min() < boundaries[bucket] - low
        seen.extend(labels.tolist())
    assert sorted(seen) == list(range(len(lengths)))  # every example exactly once
    return seen


@pytest.mark.parametrize("shuffle", [False, True])
def test_buckets_keep_every_example_once_with_its_label_and_untruncated(shuffle):
    encoded, labels, lengths = _examples()
    data = classification_dataset(
        encoded, labels, batch_size=5, shuffle=shuffle, seed=3, bucket_boundaries=BOUNDARIES
    )
    first = _check_one_pass(data, lengths, BOUNDARIES, 5)
    second = _check_one_pass(data, lengths, BOUNDARIES, 5)
    if shuffle:
        assert first != second  # reshuffled at every pass, still each example once


def test_buckets_pad_less_than_plain_batches():
    encoded, labels, lengths = _examples(200, seed=1)

    def padding(data):
        return sum(int((ids.numpy() == 0).sum()) for ids, _ in data)

    plain = classification_dataset(encoded, labels, batch_size=8, shuffle=True, seed=0)
    bucketed = classification_dataset(
        encoded, labels, batch_size=8, shuffle=True, seed=0, bucket_boundaries=[5, 10, 15, 20, 25]
    )
    assert padding(bucketed) < 0.5 * padding(plain)


def test_pad_to_bucket_boundary_gives_one_shape_per_bucket():
    encoded, labels, lengths = _examples(40)
    boundaries = [10, 20, 30]
    data = classification_dataset(
        encoded, labels, batch_size=4, bucket_boundaries=boundaries, pad_to_bucket_boundary=True
    )
    seen = []
    for ids, batch_labels in data:
        bucket = _bucket(lengths[int(batch_labels[0])], boundaries)
        assert ids.shape[1] == boundaries[bucket] - 1
        for row, label in zip(ids.numpy(), batch_labels.numpy()):
            assert (row != 0).sum() == lengths[label] and (row[: lengths[label]] == label + 1).all()
        seen.extend(batch_labels.numpy().tolist())
    assert sorted(seen) == list(range(40))
    with pytest.raises(ValueError, match="example 0 has 12 tokens.*last bucket boundary 12"):
        classification_dataset(
            [[1] * 12], [0], bucket_boundaries=[5, 12], pad_to_bucket_boundary=True
        )


def test_raw_text_buckets_vectorize_each_text_whole():
    words = [f"w{i}" for i in range(40)]
    texts = [" ".join(words[i : i + 1 + i % 13]) for i in range(30)]
    vectorizer = text_vectorizer(texts)
    lengths = np.array([len(t.split()) for t in texts])
    data = raw_text_dataset(
        texts, np.arange(30), vectorizer, batch_size=4, shuffle=True, bucket_boundaries=[3, 7]
    )
    seen = []
    for ids, labels in data:
        ids = ids.numpy()
        for row, label in zip(ids, labels.numpy()):
            expected = vectorizer(texts[label]).numpy()
            assert len(expected) == lengths[label]
            np.testing.assert_array_equal(row[: len(expected)], expected)
            assert (row[len(expected) :] == 0).all()
        assert len({_bucket(lengths[label], [3, 7]) for label in labels.numpy()}) == 1
        seen.extend(labels.numpy().tolist())
    assert sorted(seen) == list(range(30))


def test_bad_boundaries_and_mismatched_labels_are_value_errors():
    for bad in ([], [3, 3], [5, 2], [0, 4], [2.5], [True]):
        with pytest.raises(ValueError, match="bucket_boundaries"):
            check_bucket_boundaries(bad)
    with pytest.raises(ValueError, match="3 texts but 2 labels"):
        classification_dataset([[1], [2], [3]], [0, 1])
    with pytest.raises(ValueError, match="needs bucket_boundaries"):
        classification_dataset([[1]], [0], pad_to_bucket_boundary=True)
    check_lengths_fit([1, 4], [2, 5])
    with pytest.raises(ValueError, match="example 1 has 5 tokens"):
        check_lengths_fit([1, 5], [2, 5])


def test_quantile_boundaries_fill_buckets_about_equally():
    lengths = np.random.RandomState(0).geometric(0.02, size=4000)
    boundaries = length_bucket_boundaries(lengths, num_buckets=4)
    assert len(boundaries) == 3 and boundaries == sorted(set(boundaries))
    counts = np.bincount([_bucket(n, boundaries) for n in lengths], minlength=4)
    assert counts.min() > 0.2 * len(lengths), counts
    assert length_bucket_boundaries([5] * 10, num_buckets=3) == [6]
    with pytest.raises(ValueError, match="num_buckets"):
        length_bucket_boundaries([1, 2], num_buckets=1)
