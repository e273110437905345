import gzip

import numpy as np
import pytest

from lstm_zoo.data import Vocabulary, dataset_path, lm_windows, read_lm_tokens


def test_word_tokens_get_eos_at_each_line_end_and_gz_reads_the_same(tmp_path):
    text = "the cat <unk>\n a dog \n"
    plain = tmp_path / "c.txt"
    plain.write_text(text)
    packed = tmp_path / "c.txt.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    expected = ["the", "cat", "<unk>", "<eos>", "a", "dog", "<eos>"]
    assert read_lm_tokens(plain) == expected
    assert read_lm_tokens(packed) == expected
    assert read_lm_tokens(plain, level="char")[:4] == ["t", "h", "e", " "]


def test_bad_files_name_file_and_line(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    with pytest.raises(ValueError, match="empty.txt: the file holds no tokens"):
        read_lm_tokens(empty)
    broken = tmp_path / "broken.txt"
    broken.write_bytes(b"fine line\nbad \xff byte\n")
    with pytest.raises(ValueError, match=r"broken.txt:2: not valid UTF-8"):
        read_lm_tokens(broken)
    with pytest.raises(ValueError, match="no such file"):
        read_lm_tokens(tmp_path / "missing.txt")
    with pytest.raises(ValueError, match="level"):
        read_lm_tokens(broken, level="byte")


def test_vocabulary_reserves_padding_and_refuses_unknown_tokens_without_unk():
    vocab = Vocabulary.from_tokens("b a b c b a".split())
    assert vocab.tokens == ["<pad>", "b", "a", "c"]
    assert vocab.encode(["a", "c"]).tolist() == [2, 3]
    with pytest.raises(ValueError, match="'z'.*not in the vocabulary"):
        vocab.encode(["a", "z"])
    with_unk = Vocabulary.from_tokens("x <unk> x".split())
    assert with_unk.decode(with_unk.encode(["q"])) == ["<unk>"]
    assert len(Vocabulary.from_tokens("a b c d".split(), max_size=3)) == 3


def test_windows_continue_each_row_across_batches_and_shift_targets():
    ids = np.arange(1, 103)  # 102 tokens, 2 rows of 51
    batches = [(x.numpy(), y.numpy()) for x, y in lm_windows(ids, batch_size=2, num_steps=10)]
    assert len(batches) == 5
    rows = np.concatenate([x for x, _ in batches], axis=1)
    np.testing.assert_array_equal(rows[0], np.arange(1, 51))
    np.testing.assert_array_equal(rows[1], np.arange(52, 102))
    for x, y in batches:
        np.testing.assert_array_equal(y, x + 1)
    with pytest.raises(ValueError, match="make no batch"):
        lm_windows(np.arange(10), batch_size=4, num_steps=5)


@pytest.fixture(scope="module")
def ptb_dir():
    try:
        return dataset_path("ptb")
    except FileNotFoundError as error:
        pytest.skip(f"PTB data absent: {error}")


@pytest.mark.data
def test_real_ptb_files_read_fully_with_the_documented_counts(ptb_dir):
    train = read_lm_tokens(ptb_dir / "ptb.train.txt.gz")
    valid = read_lm_tokens(ptb_dir / "ptb.valid.txt")
    test = read_lm_tokens(ptb_dir / "ptb.test.txt")
    assert (len(train), len(valid), len(test)) == (929_589, 73_760, 82_430)
    vocab = Vocabulary.from_tokens(train)
    assert len(vocab) == 10_001  # 10k words + padding
    assert vocab.encode(valid).min() > 0 and vocab.encode(test).min() > 0
