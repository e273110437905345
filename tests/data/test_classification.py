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
    assert vocab[:3] == ["<pad>", "<unk>", "good"]
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
        encode_texts(["two words"], ["<pad>", "<unk>"], max_length=1)


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


def test_text_label_csv_cleans_html_breaks_and_names_bad_lines(tmp_path):
    import gzip

    from lstm_zoo.data.classification import read_text_label_csv

    text = 'id,label,rating,review\n0,pos,9,"Great.<br /><br />Loved ""it"""\n1,neg,2,Bad\n'
    path = tmp_path / "imdb.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    texts, labels = read_text_label_csv(path)
    assert texts == ['Great.  Loved "it"', "Bad"] and labels.tolist() == [1, 0]
    bad = tmp_path / "bad.csv"
    bad.write_text("id,label,review\n0,pos,fine\n1,meh,what\n")
    with pytest.raises(ValueError, match=r"bad.csv:3: unknown label 'meh'"):
        read_text_label_csv(bad)
    with pytest.raises(ValueError, match="no column 'text'"):
        read_text_label_csv(bad, text_column="text")


def test_tfds_offline_error_says_how_to_pass_local_files(tmp_path):
    from lstm_zoo.data.tfds import load_tfds

    with pytest.raises(ValueError, match=r"could not load 'imdb_reviews'.*read_text_label_csv"):
        load_tfds("imdb_reviews", data_dir=str(tmp_path), download=False)
    with pytest.raises(ValueError, match="unsupported dataset"):
        load_tfds("mnist")


@pytest.mark.data
def test_real_imdb_files_read_fully():
    from lstm_zoo.data.classification import read_text_label_csv

    try:
        folder = dataset_path("imdb")
    except FileNotFoundError as error:
        pytest.skip(f"IMDB data absent: {error}")
    for split in ("train", "test"):
        texts, labels = read_text_label_csv(folder / f"imdb_{split}.csv.gz")
        assert len(texts) == 25_000 and labels.sum() == 12_500
        assert not any("<br" in t for t in texts[:2000])


def test_raw_strings_through_text_vectorization_keep_padding_and_oov_ids():
    from lstm_zoo.data.classification import raw_text_dataset, text_vectorizer

    vectorizer = text_vectorizer(["A good film!", "a bad film"])
    vocabulary = vectorizer.get_vocabulary()
    assert vocabulary[:2] == ["", "[UNK]"]
    (ids, labels), *_ = list(
        raw_text_dataset(["good film", "a great film here"], [1, 0], vectorizer)
    )
    assert ids.shape == (2, 4)
    assert ids.numpy()[0, 2:].tolist() == [0, 0]
    assert ids.numpy()[1, 1] == 1  # "great" is unknown


def test_training_encoders_tokenize_as_the_task_models():
    """A run trains on the ids its task model (and so `lstm-zoo evaluate` and the exports)
    computes: the one rule of lstm_zoo.text, Unicode whitespace and simple case folding."""
    from lstm_zoo.data.classification import build_vocabulary, encode_texts
    from lstm_zoo.data.tagging import build_tagging_vocabularies, encode_tagged
    from lstm_zoo.text import TextPreprocessor, Vocabulary

    texts = ["STRASSE\u2003ẞig\u3000ΣΑΣ", "straße\u0085σας ẞIG"]
    vocabulary = build_vocabulary(texts, lowercase=True)
    assert "ßig" in vocabulary and "σασ" in vocabulary  # ẞ -> ß, final sigma folded to σ
    preprocessor = TextPreprocessor(Vocabulary(vocabulary), lowercase=True)
    assert encode_texts(texts, vocabulary, lowercase=True) == preprocessor.encode(texts)
    sentences = [(["ẞIG", "Σας"], ["A", "B"]), (["ßig", "x"], ["B", "A"])]
    words, tags = build_tagging_vocabularies(sentences, lowercase=True)
    assert words[2] == "ßig"
    ids, _ = encode_tagged(sentences, words, tags, lowercase=True)
    tagger = TextPreprocessor(Vocabulary(words), lowercase=True)
    assert ids == tagger.encode_words([w for w, _ in sentences])


def test_label_text_lines_take_a_space_or_a_tab_after_the_label(tmp_path):
    from lstm_zoo.data.classification import read_label_text_lines

    path = tmp_path / "sst.txt"
    path.write_text("1 a good film\n0\ta bad\tfilm\n")
    texts, ids = read_label_text_lines(path)
    assert texts == ["a good film", "a bad\tfilm"] and ids.tolist() == [1, 0]
