import gzip

import numpy as np
import pytest

from lstm_zoo.data import Vocabulary, dataset_path, lm_windows, read_lm_tokens
from lstm_zoo.text import Vocabulary as TextVocabulary


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


def test_corpus_vocabulary_is_the_one_vocabulary_type_with_ptb_unk_at_id_1():
    assert Vocabulary is TextVocabulary
    vocab = Vocabulary.build(["b a b c b a <unk> <unk> <unk> <unk>".split()])
    assert vocab.tokens == ["<pad>", "<unk>", "b", "a", "c"]  # the corpus's <unk> is id 1
    assert vocab.encode(["a", "c", "<unk>", "zebra"]) == [3, 4, 1, 1]
    assert vocab.decode(vocab.encode(["q"])) == ["<unk>"]
    assert len(Vocabulary.build(["a b c d".split()], max_size=3)) == 3


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
    vocab = Vocabulary.build([train])
    assert len(vocab) == 10_001  # 10k words (PTB's <unk> among them, id 1) + padding
    assert set(valid) <= set(vocab.index) and set(test) <= set(vocab.index)  # closed vocabulary
    assert vocab.tokens[1] == "<unk>" and vocab.encode(["<eos>"]) != [1]
