"""Character vocabularies, character ids and the padded (bucketed) tagging batches."""

import numpy as np
import pytest

from lstm_zoo.data.tagging import (
    build_character_vocabulary,
    encode_characters,
    tagging_dataset,
)

SENTENCES = [(["ab", "b"], ["X", "Y"]), (["cab"], ["Y"])]


def test_character_vocabulary_by_frequency_then_code_point():
    # counts: a 2, b 3, c 1
    assert build_character_vocabulary(SENTENCES) == ["<pad>", "<unk>", "b", "a", "c"]
    assert build_character_vocabulary(SENTENCES, min_count=2) == ["<pad>", "<unk>", "b", "a"]
    assert build_character_vocabulary([["ab", "b"]]) == ["<pad>", "<unk>", "b", "a"]


def test_encode_characters_unknown_is_one_and_empty_word_raises():
    characters = build_character_vocabulary(SENTENCES)
    assert encode_characters(SENTENCES, characters) == [[[3, 2], [2]], [[4, 3, 2]]]
    assert encode_characters([["bz"]], characters) == [[[2, 1]]]
    with pytest.raises(ValueError, match="sentence 1, word 0: empty word"):
        encode_characters([["a"], ["", "b"]], characters)


def test_characters_batch_as_wide_as_the_longest_word_never_truncated():
    long_word = "x" * 70
    sentences = [["a", long_word], ["bb"], ["c", "d", "e"]]
    characters = build_character_vocabulary(sentences)
    char_ids = encode_characters(sentences, characters)
    word_ids = [[2, 3], [4], [5, 6, 7]]
    tag_ids = [[1, 0], [1], [0, 1, 0]]
    (x, y), (x2, y2) = list(tagging_dataset(word_ids, tag_ids, 2, char_ids=char_ids))
    assert set(x) == {"tokens", "characters"}
    assert x["characters"].shape == (2, 2, 70) and x2["characters"].shape == (1, 3, 1)
    chars = x["characters"].numpy()
    np.testing.assert_array_equal(chars[0, 1], char_ids[0][1])
    assert (chars[1, 0, 2:] == 0).all() and (chars[1, 1] == 0).all()  # padding chars and word
    np.testing.assert_array_equal(x["tokens"].numpy(), [[2, 3], [4, 0]])
    np.testing.assert_array_equal(y.numpy(), [[1, 0], [1, 0]])


def test_buckets_group_similar_lengths_and_keep_every_sentence():
    rng = np.random.RandomState(0)
    lengths = rng.randint(1, 30, size=40)
    word_ids = [list(range(2, 2 + n)) for n in lengths]
    tag_ids = [[n % 3] * n for n in lengths]
    char_ids = [[[5] * (1 + i % 4) for i in range(n)] for n in lengths]
    data = tagging_dataset(
        word_ids, tag_ids, 4, shuffle=True, char_ids=char_ids, bucket_boundaries=[10, 20]
    )
    seen = []
    for x, y in data:
        real = (x["tokens"].numpy() != 0).sum(axis=1)
        seen.extend(real.tolist())
        assert len({0 if n < 10 else 1 if n < 20 else 2 for n in real}) == 1  # one bucket
        np.testing.assert_array_equal(y.numpy()[:, 0], real % 3)  # tags travel with words
    assert sorted(seen) == sorted(lengths.tolist())


def test_mismatched_lengths_name_the_sentence():
    with pytest.raises(ValueError, match="sentence 1: 2 words, 1 tags"):
        tagging_dataset([[2], [2, 3]], [[0], [0]])
    with pytest.raises(ValueError, match="sentence 0: 1 words, 1 tags, 2 character lists"):
        tagging_dataset([[2]], [[0]], char_ids=[[[3], [4]]])


def test_pad_time_to_multiple_adds_only_padding():
    word_ids, tag_ids = [[2, 3, 4], [5]], [[1, 1, 1], [2]]
    char_ids = [[[2], [3, 3], [4]], [[5, 6]]]
    (x, y), *_ = list(
        tagging_dataset(word_ids, tag_ids, 2, char_ids=char_ids, pad_time_to_multiple=4)
    )
    assert x["tokens"].shape == (2, 4) and x["characters"].shape == (2, 4, 2) and y.shape == (2, 4)
    np.testing.assert_array_equal(x["tokens"].numpy(), [[2, 3, 4, 0], [5, 0, 0, 0]])
    assert (x["characters"].numpy()[:, 3] == 0).all()
    (x, _), *_ = list(tagging_dataset(word_ids, tag_ids, 2, pad_time_to_multiple=3))
    assert x.shape == (2, 3)
