import numpy as np
import pytest

from lstm_zoo.data import dataset_path
from lstm_zoo.data.classification import (
    build_vocabulary,
    classification_dataset,
    encode_texts,
    read_label_text_lines,
)


def test_label_text_lines_and_padded_batches(tmp_path):
    path = tmp_path / "sst.train"
    path.write_text("1 a good film\n0 bad\n\n1 good good\n")
    texts, labels = read_label_text_lines(path)
    assert texts == ["a good film", "bad", "good good"] and labels.tolist() == [1, 0, 1]
    vocab = build_vocabulary(texts)
    assert vocab[:3] == ["<pad>", "<oov>", "good"]
    encoded = encode_texts(texts + ["unseen good"], vocab)
    assert encoded[-1] == [1, 2]
    (ids, batch_labels), *_ = list(classification_dataset(encoded[:3], labels, batch_size=3))
    assert ids.shape == (3, 3)
    np.testing.assert_array_equal(ids.numpy()[1], [vocab.index("bad"), 0, 0])


def test_bad_lines_name_file_and_line(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("1 fine\n2 what\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: unknown label '2'"):
        read_label_text_lines(path)
    path.write_text("1 fine\n0\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: label '0' has no text"):
        read_label_text_lines(path)
    path.write_text("\n")
    with pytest.raises(ValueError, match="holds no examples"):
        read_label_text_lines(path)
    with pytest.raises(ValueError, match="more than max_length=1"):
        encode_texts(["two words"], ["<pad>", "<oov>"], max_length=1)


@pytest.mark.data
def test_real_sst2_files_read_fully():
    try:
        folder = dataset_path("sst2")
    except FileNotFoundError as error:
        pytest.skip(f"SST-2 data absent: {error}")
    sizes = [
        len(read_label_text_lines(folder / f"stsa.binary.{s}")[0]) for s in ("train", "dev", "test")
    ]
    assert sizes == [6920, 872, 1821]
