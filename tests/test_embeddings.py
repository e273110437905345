import gzip
import struct

import numpy as np
import pytest

from lstm_zoo.data import dataset_path
from lstm_zoo.embeddings import load_embeddings

VOCAB = ["<pad>", "<oov>", "the", "Cat", "dog", "absent"]


def _write(path, text, gz=False):
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_glove_text_rows_follow_the_vocabulary(tmp_path, gz):
    path = _write(
        tmp_path / ("v.txt.gz" if gz else "v.txt"), "the 1 2 3\ncat 4 5 6\ndog 7 8 9\n", gz
    )
    matrix, report = load_embeddings(path, VOCAB, reserved=2, lowercase_fallback=True)
    assert matrix.shape == (6, 3) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[0], 0)
    np.testing.assert_array_equal(matrix[2], [1, 2, 3])
    np.testing.assert_array_equal(matrix[3], [4, 5, 6])  # "Cat" by lowercase
    np.testing.assert_array_equal(matrix[4], [7, 8, 9])
    assert report.found == 2 and report.found_lowercase == 1 and report.missing == ["absent"]
    assert np.abs(matrix[5]).sum() > 0  # missing rows are drawn, not zero
    assert "3 of 4 tokens found" in str(report)


def test_without_lowercase_fallback_case_matters(tmp_path):
    path = _write(tmp_path / "v.txt", "the 1 2\ncat 3 4\n")
    _, report = load_embeddings(path, VOCAB, reserved=2)
    assert "Cat" in report.missing


def test_word2vec_text_header_and_duplicates(tmp_path):
    path = _write(tmp_path / "v.vec", "3 2\nthe 1 2\nthe 9 9\ndog 3 4\n")
    matrix, report = load_embeddings(path, VOCAB, reserved=2)
    np.testing.assert_array_equal(matrix[2], [1, 2])  # the first occurrence wins
    assert report.duplicates == 1


def test_word2vec_binary(tmp_path):
    body = b"2 3\n"
    for word, vec in (("the", [1, 2, 3]), ("dog", [4, 5, 6])):
        body += word.encode() + b" " + struct.pack("<3f", *vec) + b"\n"
    path = tmp_path / "v.bin"
    path.write_bytes(body)
    matrix, report = load_embeddings(path, VOCAB, reserved=2)
    np.testing.assert_array_equal(matrix[4], [4, 5, 6])
    assert report.found == 2


@pytest.mark.parametrize(
    "text, message",
    [
        ("the 1 2 3\ncat 4 5\n", r"v.txt:2: expected 4 fields \(a word and 3 numbers\), found 3"),
        ("the 1 2 3\ncat 4 x 6\n", r"v.txt:2: non-numeric value 'x' for 'cat'"),
        ("the 1 2 3\n\ncat 1 2 3\n", r"v.txt:2: empty line"),
    ],
)
def test_malformed_lines_name_file_and_line(tmp_path, text, message):
    path = _write(tmp_path / "v.txt", text)
    with pytest.raises(ValueError, match=message):
        load_embeddings(path, VOCAB)


def test_undecodable_bytes_and_dimension_mismatch(tmp_path):
    path = tmp_path / "v.txt"
    path.write_bytes(b"the 1 2\n\xff\xfe 3 4\n")
    with pytest.raises(ValueError, match=r"v.txt:2: not valid UTF-8"):
        load_embeddings(path, VOCAB)
    good = _write(tmp_path / "g.txt", "the 1 2\n")
    with pytest.raises(ValueError, match="dimension 2, the model expects 50"):
        load_embeddings(good, VOCAB, expected_dim=50)
    with pytest.raises(ValueError, match="file_format must be one of"):
        load_embeddings(good, VOCAB, file_format="elmo")


@pytest.mark.data
def test_real_glove_file_streams_and_covers_common_words():
    try:
        path = dataset_path("glove", "glove.6B.50d.txt.gz")
    except FileNotFoundError as error:
        pytest.skip(f"GloVe data absent: {error}")
    vocab = ["<pad>", "<oov>", "the", "movie", "good", "Paris", "zzqqxxnotaword"]
    matrix, report = load_embeddings(path, vocab, reserved=2, lowercase_fallback=True)
    assert report.lines_read == 400_000 and report.dimension == 50
    assert (
        report.found == 3 and report.found_lowercase == 1 and report.missing == ["zzqqxxnotaword"]
    )
    assert matrix.shape == (7, 50)
