# ruff: noqa: E501  (the catalogue tables keep one case per line)
"""A catalogue of the mistakes a new user makes, one case per kind, library side (the CLI's are
in tests/test_cli.py).

Every case asserts the error type and that the message names the culprit: the file and line
(`path:line: ...`), or the argument and what is allowed. Tables by area: vector files, text
readers, reader arguments, layers and factories, token ids, generation, export.
"""

import gzip
import re
import struct

import keras
import numpy as np
import pytest
import tensorflow as tf

from lstm_zoo.data import Vocabulary, lm_windows, read_lm_tokens
from lstm_zoo.data.batching import batch_by_length, length_bucket_boundaries
from lstm_zoo.data.classification import (
    build_vocabulary,
    classification_dataset,
    encode_texts,
    read_label_text_lines,
    read_text_label_csv,
)
from lstm_zoo.data.conll import read_conll_columns, read_conllu
from lstm_zoo.data.tagging import (
    build_tagging_vocabularies,
    encode_characters,
    encode_tagged,
    pad,
    tagging_dataset,
)
from lstm_zoo.data.tfds import load_tfds
from lstm_zoo.embeddings import load_embeddings
from lstm_zoo.export import export_saved_model
from lstm_zoo.generation import StepModel, generate, generate_text, get_sampler
from lstm_zoo.layers import recurrent_layer
from lstm_zoo.layers.embedding import ReversibleEmbedding, TokenEmbedding, token_embedding
from lstm_zoo.models import (
    language_model,
    language_model_preset,
    sentiment_classifier,
    sentiment_classifier_from_preset,
    sequence_tagger,
)

VOCAB = ["<pad>", "<oov>", "the", "cat"]


def _gz(text):
    return gzip.compress(text.encode() if isinstance(text, str) else text)


def _truncated_gz(text):
    return _gz(text)[:-12]  # the end-of-stream marker and part of the data cut off


def _binary(count, dimension, entries, tail=b""):
    body = f"{count} {dimension}\n".encode()
    for word, vector in entries:
        body += word.encode() + b" " + struct.pack(f"<{dimension}f", *vector) + b"\n"
    return body + tail


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _full_directory(path):
    path.mkdir()
    (path / "saved_model.pb").write_text("an earlier export")
    return path


def _check(error, pattern):
    """The error's message matches `pattern` (a regex naming the culprit)."""
    message = str(error.value)
    assert re.search(pattern, message), f"{pattern!r} not in {message!r}"


# ------------------------------------------------------------------------------ vector files
# (file name, content, load_embeddings keyword arguments, message pattern)

GLOVE = "the 0.1 0.2 0.3\ncat 0.4 0.5 0.6\n"
VECTOR_FILES = [
    pytest.param("v.txt", "the 0.1 nan 0.3\n", {}, r"v\.txt:1: value 2 of 'the' is 'nan'", id="nan"),
    pytest.param("v.txt", GLOVE + "dog 1 inf 2\n", {}, r"v\.txt:3: value 2 .*'inf'", id="inf"),
    pytest.param("v.txt", "the -Infinity 1 2\n", {}, r"v\.txt:1: value 1 .*not a finite", id="-inf"),
    pytest.param("v.txt", "the 1e39 1 2\n", {}, r"v\.txt:1: value 1 .*'1e39'", id="float32-overflow"),
    pytest.param("v.txt", "the\ncat\n", {}, r"v\.txt:1: expected a word and its numbers", id="word-list"),
    pytest.param("v.txt", "the\t0.1\t0.2\n", {}, r"v\.txt:1: fields separated by tabs", id="tabs"),
    pytest.param("v.txt", "the 1 2 3\ncat 4 5\n", {}, r"v\.txt:2: expected 4 fields \(a word and 3 numbers\), found 3", id="short-row"),
    pytest.param("v.txt", "the 1 2\ncat 4 5 6\n", {}, r"v\.txt:2: expected 3 fields .*found 4", id="long-row"),
    pytest.param("v.txt", "the 1 2\ncat 4 x\n", {}, r"v\.txt:2: non-numeric value 'x' for 'cat'", id="non-numeric"),
    pytest.param("v.txt", "the 1 2\n\ncat 3 4\n", {}, r"v\.txt:2: empty line", id="empty-line"),
    pytest.param("v.txt", b"the 1 2\n\xff\xfe 3 4\n", {}, r"v\.txt:2: not valid UTF-8", id="bad-utf8"),
    pytest.param("v.txt", "", {}, r"v\.txt: the file holds no vectors", id="empty-file"),
    pytest.param("v.txt", "the 1 2\n", {"expected_dim": 50}, r"v\.txt: vectors have dimension 2, the model expects 50", id="dimension-mismatch"),
    pytest.param("v.vec", "5 3\n" + GLOVE, {}, r"v\.vec:1: the header promises 5 vectors, the file holds 2", id="header-count-high"),
    pytest.param("v.vec", "1 3\n" + GLOVE, {}, r"v\.vec:1: the header promises 1 vectors, the file holds 2", id="header-count-low"),
    pytest.param("v.vec", "2 4\n" + GLOVE, {}, r"v\.vec: vectors have dimension 4|v\.vec:2: expected 5 fields", id="header-dimension-wrong"),
    pytest.param("v.vec", "0 3\n", {"file_format": "word2vec"}, r"v\.vec:1: the header 'count dimension' needs both >= 1", id="header-zero"),
    pytest.param("v.vec", GLOVE, {"file_format": "word2vec"}, r"v\.vec:1: expected a header 'count dimension'", id="header-missing"),
    pytest.param("v.txt.gz", _truncated_gz(GLOVE * 50), {}, r"v\.txt\.gz:\d+: the gzip file is truncated", id="gz-truncated"),
    pytest.param("v.txt.gz", b"not gzip at all", {}, r"v\.txt\.gz:1: not a valid gzip file", id="gz-corrupt"),
    pytest.param("v.bin", _binary(3, 2, [("the", [1, 2]), ("cat", [3, 4])]), {}, r"v\.bin: entry 3: file ends inside a word", id="bin-count-high"),
    pytest.param("v.bin", _binary(1, 2, [("the", [1, 2]), ("cat", [3, 4])]), {}, r"v\.bin: data after entry 1", id="bin-count-low"),
    pytest.param("v.bin", _binary(1, 2, [("the", [1, float("nan")])]), {}, r"v\.bin: entry 1: value 2 of 'the'", id="bin-nan"),
    pytest.param("v.bin", _binary(1, 2, [("the", [1, 2])])[:-5], {}, r"v\.bin: entry 1: file ends inside a vector", id="bin-truncated"),
    pytest.param("v.bin", b"\xff\xfe 2\n", {}, r"v\.bin:1: the header is not text", id="bin-header-binary"),
    pytest.param("v.bin.gz", _truncated_gz(_binary(50, 4, [("w", [1, 2, 3, 4])] * 50)), {}, r"v\.bin\.gz:\d+: the gzip file is truncated", id="bin-gz-truncated"),
]  # fmt: skip


@pytest.mark.parametrize("name, content, kwargs, pattern", VECTOR_FILES)
def test_vector_file_mistakes_name_file_and_line(tmp_path, name, content, kwargs, pattern):
    path = _write(tmp_path, name, content)
    with pytest.raises(ValueError) as error:
        load_embeddings(path, VOCAB, **kwargs)
    _check(error, pattern)


def test_nan_never_reaches_the_random_rows_of_missing_words(tmp_path):
    """The old failure: a NaN in a found vector made the std of found rows NaN, so every
    missing word's row was NaN. Now the file is refused; a clean file gives finite rows."""
    path = _write(tmp_path, "v.txt", GLOVE)
    matrix, report = load_embeddings(path, [*VOCAB, "absent"], reserved=2)
    assert report.missing == ["absent"] and np.isfinite(matrix).all()


VECTOR_ARGUMENTS = [
    pytest.param({"reserved": -1}, r"reserved must be in \[0, 4\]", id="reserved-negative"),
    pytest.param({"reserved": 9}, r"reserved must be in \[0, 4\].*reserved=9", id="reserved-too-large"),
    pytest.param({"reserved": 1.5}, r"reserved must be an integer", id="reserved-float"),
    pytest.param({"expected_dim": 0}, r"expected_dim must be a positive integer", id="expected-dim-zero"),
    pytest.param({"file_format": "elmo"}, r"file_format must be one of .*'elmo'", id="unknown-format"),
    pytest.param({"vocabulary": []}, r"vocabulary is empty", id="empty-vocabulary"),
    pytest.param({"vocabulary": ["<pad>", 3]}, r"vocabulary must hold strings; got 3", id="non-string-token"),
]  # fmt: skip


@pytest.mark.parametrize("kwargs, pattern", VECTOR_ARGUMENTS)
def test_vector_loader_arguments_name_the_argument_and_range(tmp_path, kwargs, pattern):
    path = _write(tmp_path, "v.txt", GLOVE)
    vocabulary = kwargs.pop("vocabulary", VOCAB)
    with pytest.raises(ValueError) as error:
        load_embeddings(path, vocabulary, **kwargs)
    _check(error, pattern)


@pytest.mark.parametrize("make, pattern", [
    pytest.param(lambda p: p / "missing.txt", r"missing\.txt: no such file", id="missing"),
    pytest.param(lambda p: p, r": is a directory", id="directory"),
])  # fmt: skip
def test_vector_path_that_is_no_file(tmp_path, make, pattern):
    with pytest.raises(ValueError) as error:
        load_embeddings(make(tmp_path), VOCAB)
    _check(error, pattern)


# ------------------------------------------------------------------------------ text readers
# (reader, file name, content, message pattern)

CONLLU_OK = "1\tThe\tthe\tDET\tDT\t_\t2\tdet\t_\t_\n2\tcat\tcat\tNOUN\tNN\t_\t0\troot\t_\t_\n"
CSV_OK = "id,label,rating,review\n1,pos,9,a fine film\n"
TEXT_READERS = [
    # language-model corpora
    pytest.param(read_lm_tokens, "c.txt.gz", _truncated_gz("a b c\n" * 500), r"c\.txt\.gz:\d+: the gzip file is truncated", id="lm-gz-truncated"),
    pytest.param(read_lm_tokens, "c.txt.gz", b"plain text, gzip name", r"c\.txt\.gz:1: not a valid gzip file", id="lm-gz-corrupt"),
    pytest.param(read_lm_tokens, "c.txt", b"a b\n\xc3\x28 c\n", r"c\.txt:2: not valid UTF-8", id="lm-bad-utf8"),
    pytest.param(read_lm_tokens, "c.txt", b"a b\nc\x00d\n", r"c\.txt:2: a NUL byte", id="lm-binary-file"),
    pytest.param(read_lm_tokens, "c.txt", "\n\n", r"c\.txt: the file holds no tokens", id="lm-no-tokens"),
    # CoNLL-U
    pytest.param(read_conllu, "t.conllu", CONLLU_OK.replace("\t_\t_\n", "\t_\n", 1), r"t\.conllu:1: 9 tab-separated columns, expected 10", id="conllu-9-columns"),
    pytest.param(read_conllu, "t.conllu", CONLLU_OK.replace("\t", " "), r"t\.conllu:1: 1 tab-separated columns", id="conllu-spaces-not-tabs"),
    pytest.param(read_conllu, "t.conllu", CONLLU_OK.replace("2\tcat", "x\tcat"), r"t\.conllu:2: bad token id 'x'", id="conllu-bad-id"),
    pytest.param(read_conllu, "t.conllu", CONLLU_OK.replace("2\tcat", "3\tcat"), r"t\.conllu:2: token id 3, expected 2", id="conllu-id-gap"),
    pytest.param(read_conllu, "t.conllu", CONLLU_OK + CONLLU_OK, r"t\.conllu:3: token id 1, expected 3 .*missing blank line", id="conllu-no-blank-line"),
    pytest.param(read_conllu, "t.conllu", CONLLU_OK.replace("\tcat\tcat", "\t\tcat"), r"t\.conllu:2: empty form", id="conllu-empty-form"),
    pytest.param(read_conllu, "t.conllu", CONLLU_OK.replace("NOUN", "_"), r"t\.conllu:2: empty upos for 'cat'", id="conllu-empty-upos"),
    pytest.param(read_conllu, "t.conllu", CONLLU_OK.replace("\n", "\n \n", 1), r"t\.conllu:2: a line of only whitespace inside a sentence", id="conllu-whitespace-line"),
    pytest.param(read_conllu, "t.conllu", "# only a comment\n", r"t\.conllu: the file holds no sentences", id="conllu-no-sentences"),
    pytest.param(read_conllu, "t.conllu.gz", _truncated_gz((CONLLU_OK + "\n") * 100), r"t\.conllu\.gz:\d+: the gzip file is truncated", id="conllu-gz-truncated"),
    # CoNLL-2003 columns
    pytest.param(read_conll_columns, "eng.train", "EU NNP I-ORG\nrejects VBZ\n", r"eng\.train:2: 2 columns, expected 3", id="columns-count"),
    pytest.param(read_conll_columns, "eng.train", "EU\nrejects\n", r"eng\.train:1: 1 column; expected a word and a tag", id="columns-one"),
    pytest.param(read_conll_columns, "eng.train", "-DOCSTART- -X- O\n\n", r"eng\.train: the file holds no sentences", id="columns-no-sentences"),
    # classification: label-then-text lines
    pytest.param(read_label_text_lines, "sst.txt", "1 good\n2 odd\n", r"sst\.txt:2: unknown label '2'", id="sst-unknown-label"),
    pytest.param(read_label_text_lines, "sst.txt", "1 good\n0\n", r"sst\.txt:2: label '0' has no text", id="sst-no-text"),
    pytest.param(read_label_text_lines, "sst.txt", "1\tgood film\nx\tbad\n", r"sst\.txt:2: unknown label 'x'", id="sst-tab-separated-unknown-label"),
    pytest.param(read_label_text_lines, "sst.txt", "\n\n", r"sst\.txt: the file holds no examples", id="sst-empty"),
    # classification: CSV
    pytest.param(read_text_label_csv, "i.csv", "id,label,text\n1,pos,x\n", r"i\.csv:1: no column 'review'", id="csv-missing-column"),
    pytest.param(read_text_label_csv, "i.csv", CSV_OK + "2,meh,9,so so\n", r"i\.csv:3: unknown label 'meh'", id="csv-unknown-label"),
    pytest.param(read_text_label_csv, "i.csv", CSV_OK + "2,neg,1,  \n", r"i\.csv:3: empty 'review'", id="csv-empty-text"),
    pytest.param(read_text_label_csv, "i.csv", CSV_OK + "2,neg\n", r"i\.csv:3: 2 fields, the header has 4", id="csv-short-row"),
    pytest.param(read_text_label_csv, "i.csv", CSV_OK + "2,neg,1,bad,extra\n", r"i\.csv:3: 5 fields, the header has 4", id="csv-long-row"),
    pytest.param(read_text_label_csv, "i.csv", CSV_OK.encode() + b"2,neg,1,\xff\n", r"i\.csv:\d+: not valid UTF-8", id="csv-bad-utf8"),
    pytest.param(read_text_label_csv, "i.csv", CSV_OK + '2,neg,1,"never closed\n', r"i\.csv:\d+: not valid CSV", id="csv-unclosed-quote"),
    pytest.param(read_text_label_csv, "i.csv.gz", _truncated_gz(CSV_OK + "2,neg,1,dull\n" * 300), r"i\.csv\.gz:\d+: the gzip file is truncated", id="csv-gz-truncated"),
    pytest.param(read_text_label_csv, "i.csv", "id,label,rating,review\n", r"i\.csv: the file holds no rows", id="csv-no-rows"),
]  # fmt: skip


@pytest.mark.parametrize("reader, name, content, pattern", TEXT_READERS)
def test_reader_mistakes_name_file_and_line(tmp_path, reader, name, content, pattern):
    path = _write(tmp_path, name, content)
    with pytest.raises(ValueError) as error:
        reader(path)
    _check(error, pattern)


@pytest.mark.parametrize(
    "reader", [read_lm_tokens, read_conllu, read_conll_columns, read_label_text_lines]
)
def test_readers_name_a_missing_file_and_a_directory(tmp_path, reader):
    with pytest.raises(ValueError, match=r"nothing\.txt: no such file"):
        reader(tmp_path / "nothing.txt")
    with pytest.raises(ValueError, match=r"is a directory"):
        reader(tmp_path)


# ------------------------------------------------------------------------------ reader arguments
# (call, message pattern naming the argument and what is allowed)

SENTENCES = [(["the", "cat"], ["DET", "NOUN"])]
READER_ARGUMENTS = [
    pytest.param(lambda p: read_lm_tokens(p, level="byte"), r"level must be 'word' or 'char'; got level='byte'", id="lm-level"),
    pytest.param(lambda p: read_conllu(p, tag_column="upos_tag"), r"tag_column must be one of .*'upos_tag'", id="conllu-tag-column"),
    pytest.param(lambda p: read_conll_columns(_write(p, "c.txt", "EU NNP\n"), tag_column=5), r"tag_column must be in \[-2, 1\] .*c\.txt:1; got tag_column=5", id="columns-tag-column-range"),
    pytest.param(lambda p: read_conll_columns(p, word_column="0"), r"word_column must be an integer column index", id="columns-word-column-type"),
    pytest.param(lambda p: read_label_text_lines(p, labels=()), r"labels must hold at least one label", id="labels-empty"),
    pytest.param(lambda p: read_label_text_lines(p, labels=("0", "0")), r"labels has duplicates", id="labels-duplicate"),
    pytest.param(lambda p: read_label_text_lines(p, labels="01"), r"labels must be a list of label strings", id="labels-string"),
    pytest.param(lambda p: read_text_label_csv(_write(p, "i.csv", CSV_OK), text_column="x", label_column="x"), r"text_column and label_column are both 'x'", id="csv-same-columns"),
    pytest.param(lambda p: Vocabulary(["<pad>", "<unk>", "a", "a"]), r"'a' appears twice \(ids 2 and 3\)", id="vocabulary-duplicate"),
    pytest.param(lambda p: Vocabulary(["<pad>", "a"]), r"'<unk>' must be id 1 \(absent\)", id="vocabulary-no-unk-after-pad"),
    pytest.param(lambda p: Vocabulary(["a", "<unk>"]), r"'<pad>' must be id 0 \(absent\)", id="vocabulary-unk-without-pad"),
    pytest.param(lambda p: Vocabulary(["<pad>", "a", 7]), r"non-empty strings; got 7", id="vocabulary-non-string"),
    pytest.param(lambda p: Vocabulary("abc"), r"tokens must be a list of strings; got str", id="vocabulary-string"),
    pytest.param(lambda p: Vocabulary.build(["a b".split()], max_size=2), r"max_size must be >= 3; got max_size=2", id="vocabulary-max-size"),
    pytest.param(lambda p: Vocabulary.build(["a b".split()], min_count=0), r"min_count must be >= 1; got min_count=0", id="vocabulary-min-count"),
    pytest.param(lambda p: Vocabulary.build("a b"), r"token_lists must be a list of token lists; got one string", id="vocabulary-build-string"),
    pytest.param(lambda p: Vocabulary(["a"]).decode([1, 3]), r"id 3 \(position 1\) is outside the vocabulary \[0, 3\)", id="decode-too-large"),
    pytest.param(lambda p: Vocabulary(["a"]).decode([-1]), r"id -1 \(position 0\) is outside the vocabulary \[0, 3\)", id="decode-negative"),
    pytest.param(lambda p: Vocabulary(["a"]).encode("b"), r"tokens must be a list of str; got the string 'b'", id="encode-one-string"),
    pytest.param(lambda p: lm_windows(np.arange(100), 0, 5), r"batch_size must be >= 1; got batch_size=0", id="windows-batch-size"),
    pytest.param(lambda p: lm_windows(np.arange(100), 4, 0), r"num_steps must be >= 1; got num_steps=0", id="windows-num-steps"),
    pytest.param(lambda p: lm_windows(np.arange(10), 4, 5), r"10 tokens make no batch of 4 x 5", id="windows-too-short"),
    pytest.param(lambda p: lm_windows(np.array([1, -2, 3] * 20), 2, 3), r"ids: id -2 at position 1 is negative", id="windows-negative-id"),
    pytest.param(lambda p: lm_windows(np.ones((4, 30), "int32"), 2, 3), r"ids must be a 1-D stream", id="windows-2d"),
    pytest.param(lambda p: build_vocabulary(["a b c"], max_size=2), r"max_size must be >= 3; got max_size=2", id="classification-max-size"),
    pytest.param(lambda p: build_vocabulary("a b c"), r"texts must be a list of strings; got one string", id="classification-one-string"),
    pytest.param(lambda p: encode_texts(["a b c"], VOCAB, max_length=2), r"text 0 has 3 tokens, more than max_length=2", id="encode-too-long"),
    pytest.param(lambda p: encode_texts(["a"], VOCAB, max_length=0), r"max_length must be >= 1; got max_length=0", id="encode-max-length"),
    pytest.param(lambda p: classification_dataset([[2]], [0], batch_size=0), r"batch_size must be >= 1; got batch_size=0", id="classification-batch-size"),
    pytest.param(lambda p: classification_dataset([[2], [3]], [0]), r"2 texts but 1 labels", id="classification-count"),
    pytest.param(lambda p: classification_dataset([[2]], [-1]), r"labels: class id -1 at 0 is < 0", id="classification-negative-label"),
    pytest.param(lambda p: classification_dataset([[2], []], [0, 1]), r"text 1 has no tokens", id="classification-empty-text"),
    pytest.param(lambda p: classification_dataset([[2]], [0], bucket_boundaries=[5, 3]), r"bucket_boundaries must be strictly increasing; got \[5, 3\]", id="bucket-order"),
    pytest.param(lambda p: classification_dataset([[2] * 9], [0], bucket_boundaries=[4], pad_to_bucket_boundary=True), r"example 0 has 9 tokens; .*last bucket boundary 4", id="bucket-too-long"),
    pytest.param(lambda p: batch_by_length(tf.data.Dataset.range(3), 2.0, ([None], [])), r"batch_size must be an integer >= 1; got batch_size=2\.0", id="batch-size-float"),
    pytest.param(lambda p: length_bucket_boundaries([1, 2, 3], num_buckets=1), r"num_buckets must be at least 2; got 1", id="buckets-count"),
    pytest.param(lambda p: build_tagging_vocabularies(SENTENCES, max_words=2), r"max_words must be >= 3; got max_words=2", id="tagging-max-words"),
    pytest.param(lambda p: build_tagging_vocabularies([(["a", "b"], ["X"])]), r"sentence 0: 2 words but 1 tags", id="tagging-mismatch"),
    pytest.param(lambda p: build_tagging_vocabularies([("a b", "X Y")]), r"sentence 0: words and tags must be lists", id="tagging-strings"),
    pytest.param(lambda p: encode_tagged(SENTENCES, ["<pad>", "<oov>"], ["DET"]), r"sentence 0: unknown tag 'NOUN'", id="tagging-unknown-tag"),
    pytest.param(lambda p: encode_characters([(["a", ""], ["X", "Y"])], ["<pad>", "<oov>", "a"]), r"sentence 0, word 1: empty word", id="characters-empty-word"),
    pytest.param(lambda p: tagging_dataset([[2, 3]], [[0]]), r"sentence 0: 2 words, 1 tags", id="tagging-dataset-mismatch"),
    pytest.param(lambda p: tagging_dataset([[]], [[]]), r"sentence 0 has no words", id="tagging-dataset-empty"),
    pytest.param(lambda p: tagging_dataset([[2]], [[0]], batch_size=-3), r"batch_size must be >= 1; got batch_size=-3", id="tagging-batch-size"),
    pytest.param(lambda p: tagging_dataset([[2]], [[0]], pad_time_to_multiple=0), r"pad_time_to_multiple must be >= 1", id="tagging-pad-multiple"),
    pytest.param(lambda p: tagging_dataset([[2]], [[0]], bucket_boundaries=[0, 3]), r"bucket_boundaries must be positive ints", id="tagging-buckets"),
    pytest.param(lambda p: pad([]), r"pad: no sequences given", id="pad-nothing"),
    pytest.param(lambda p: load_tfds("mnist"), r"unsupported dataset 'mnist'; supported: imdb_reviews", id="tfds-name"),
    pytest.param(lambda p: load_tfds("glue/sst2", split=""), r"split must be a split name", id="tfds-split"),
    pytest.param(lambda p: load_tfds("imdb_reviews", data_dir=p / "no", download=False), r"data_dir='.*no': no such directory .*read_text_label_csv", id="tfds-data-dir"),
]  # fmt: skip


@pytest.mark.parametrize("call, pattern", READER_ARGUMENTS)
def test_reader_arguments_name_the_argument(tmp_path, call, pattern):
    with pytest.raises(ValueError) as error:
        call(tmp_path)
    _check(error, pattern)


# ------------------------------------------------------------------------------ layers, factories
# Keras's own LSTMCell clamps dropout=1.5 to 1 and accepts dropout=1 (no dropout at all): the
# zoo refuses both.

LAYER_ARGUMENTS = [
    pytest.param(lambda: recurrent_layer("lstn", 4), r"Unknown recurrent layer 'lstn'; known names: .*zoo_lstm", id="unknown-cell"),
    pytest.param(lambda: recurrent_layer("zoo_lstm", 0), r"`units` must be a positive integer; got units=0", id="units-zero"),
    pytest.param(lambda: recurrent_layer("peephole", -3), r"`units` must be a positive integer; got units=-3", id="units-negative"),
    pytest.param(lambda: recurrent_layer("zoo_gru", 2.5), r"`units` must be a positive integer; got units=2\.5", id="units-float"),
    pytest.param(lambda: recurrent_layer("coupled", True), r"`units` must be a positive integer; got units=True", id="units-bool"),
    pytest.param(lambda: recurrent_layer("lstm", "8"), r"`units` must be a positive integer; got units='8'", id="units-string-keras"),
    pytest.param(lambda: recurrent_layer("zoo_lstm", 4, dropout=-0.1), r"`dropout` must be a number in \[0, 1\); got dropout=-0\.1", id="dropout-negative"),
    pytest.param(lambda: recurrent_layer("zoo_lstm", 4, dropout=1.5), r"`dropout` must be a number in \[0, 1\); got dropout=1\.5", id="dropout-above-one"),
    pytest.param(lambda: recurrent_layer("zoo_lstm", 4, dropout=1.0), r"`dropout` must be a number in \[0, 1\); got dropout=1\.0", id="dropout-one"),
    pytest.param(lambda: recurrent_layer("zoo_lstm", 4, dropout=float("nan")), r"`dropout` must be a number in \[0, 1\); got dropout=nan", id="dropout-nan"),
    pytest.param(lambda: recurrent_layer("zoo_lstm", 4, dropout="0.1"), r"`dropout` must be a number in \[0, 1\); got dropout='0\.1'", id="dropout-string"),
    pytest.param(lambda: recurrent_layer("zoo_gru", 4, recurrent_dropout=2), r"`recurrent_dropout` must be a number in \[0, 1\); got recurrent_dropout=2", id="recurrent-dropout"),
    pytest.param(lambda: recurrent_layer("zoo_lstm", 4, activation="tanhh"), r"`activation`: 'tanhh' is not a known Keras activation", id="activation-name"),
    pytest.param(lambda: recurrent_layer("peephole", 4, recurrent_activation="sigmoidd"), r"`recurrent_activation`: 'sigmoidd' is not a known", id="recurrent-activation-name"),
    pytest.param(lambda: recurrent_layer("zoo_lstm", 4, kernel_initializer="glorot"), r"`kernel_initializer`: 'glorot' is not a known Keras initializer", id="initializer-name"),
    pytest.param(lambda: recurrent_layer("zoo_lstm", 4, kernel_regularizer="l3"), r"`kernel_regularizer`: 'l3' is not a known Keras regularizer", id="regularizer-name"),
    pytest.param(lambda: recurrent_layer("zoo_lstm", 4, bias_constraint="positive"), r"`bias_constraint`: 'positive' is not a known Keras constraint", id="constraint-name"),
    pytest.param(lambda: recurrent_layer("zoo_lstm", 4, seed=1.5), r"`seed` must be an int or None; got seed=1\.5", id="seed-float"),
    pytest.param(lambda: recurrent_layer("coupled", 4, unit_forget_bias=True), r"CoupledLSTMCell has no forget gate, so `unit_forget_bias=True`", id="forget-bias-no-gate"),
    pytest.param(lambda: recurrent_layer("clockwork", 6, periods=(1, 2, 4, 8)), r"`units` must be divisible by the number of periods \(4\); got units=6", id="clockwork-units"),
    pytest.param(lambda: recurrent_layer("clockwork", 4, periods=(1, 0)), r"`periods` must be a non-empty list of positive ints", id="clockwork-periods"),
    pytest.param(lambda: recurrent_layer("mogrifier", 4, rounds=-1), r"`rounds` must be an int >= 0; got rounds=-1", id="mogrifier-rounds"),
    pytest.param(lambda: recurrent_layer("mogrifier", 4, rank=0), r"`rank` must be None or a positive int; got rank=0", id="mogrifier-rank"),
    pytest.param(lambda: recurrent_layer("depth_gated", 4, depth=0), r"`depth` must be an int >= 1; got depth=0", id="depth-gated-depth"),
    pytest.param(lambda: recurrent_layer("layer_norm_lstm", 4, norm_epsilon=0), r"`norm_epsilon` must be > 0; got norm_epsilon=0", id="layer-norm-epsilon"),
    pytest.param(lambda: language_model(1), r"vocab_size must be >= 2; got vocab_size=1", id="lm-vocab-size"),
    pytest.param(lambda: language_model(10.0), r"vocab_size must be an integer >= 2; got vocab_size=10\.0", id="lm-vocab-size-float"),
    pytest.param(lambda: language_model(10, num_layers=0), r"num_layers must be >= 1; got num_layers=0", id="lm-num-layers"),
    pytest.param(lambda: language_model(10, embedding_dim=0), r"embedding_dim must be >= 1 or None; got embedding_dim=0|embedding_dim must be >= 1; got embedding_dim=0", id="lm-embedding-dim"),
    pytest.param(lambda: language_model(10, dropout=1.0), r"dropout must be in \[0, 1\); got dropout=1\.0", id="lm-dropout"),
    pytest.param(lambda: language_model(10, init_scale=0), r"init_scale must be > 0; got init_scale=0", id="lm-init-scale-zero"),
    pytest.param(lambda: language_model(10, init_scale=-0.1), r"init_scale must be > 0; got init_scale=-0\.1", id="lm-init-scale-negative"),
    pytest.param(lambda: language_model(10, batch_size=0, stateful=True), r"batch_size must be >= 1; got batch_size=0", id="lm-batch-size"),
    pytest.param(lambda: language_model(10, stateful=True), r"stateful=True needs a fixed batch_size", id="lm-stateful"),
    pytest.param(lambda: language_model(10, tie_embeddings="yes"), r"tie_embeddings must be True or False; got tie_embeddings='yes'", id="lm-tie-flag"),
    pytest.param(lambda: language_model(10, cell="peep"), r"Unknown recurrent layer 'peep'", id="lm-cell"),
    pytest.param(lambda: sentiment_classifier(vocab_size=10, num_classes=1), r"num_classes must be >= 2; got num_classes=1", id="sentiment-classes"),
    pytest.param(lambda: sentiment_classifier(vocab_size=10, num_layers=0), r"num_layers must be >= 1; got num_layers=0", id="sentiment-no-layers"),
    pytest.param(lambda: sentiment_classifier(vocab_size=10, hidden_units=0), r"hidden_units must be >= 1 or None|hidden_units must be >= 1; got hidden_units=0", id="sentiment-hidden-units"),
    pytest.param(lambda: sentiment_classifier(vocab_size=10, dropout=1.5), r"dropout must be in \[0, 1\); got dropout=1\.5", id="sentiment-dropout"),
    pytest.param(lambda: sentiment_classifier(vocab_size=10, embedding_dropout=-0.1), r"embedding_dropout must be in \[0, 1\)", id="sentiment-embedding-dropout"),
    pytest.param(lambda: sentiment_classifier(vocab_size=10, pooling="avg"), r"pooling must be 'last', 'max' or 'mean'; got 'avg'", id="sentiment-pooling"),
    pytest.param(lambda: sentiment_classifier(vocab_size=1), r"vocab_size must be >= 2; got vocab_size=1", id="sentiment-vocab-size"),
    pytest.param(lambda: sentiment_classifier(vocab_size=10, embedding_dim=0), r"embedding_dim must be >= 1; got embedding_dim=0", id="sentiment-embedding-dim"),
    pytest.param(lambda: sentiment_classifier(), r"pass `embeddings` \(a pretrained matrix\) or `vocab_size`", id="sentiment-neither"),
    pytest.param(lambda: sentiment_classifier(embeddings=np.full((4, 3), np.nan)), r"embeddings: row 0 holds NaN or infinite values", id="sentiment-nan-matrix"),
    pytest.param(lambda: sentiment_classifier(embeddings=np.ones(4)), r"embeddings must be \[vocab, dim\] with both >= 1; got shape \(4,\)", id="sentiment-1d-matrix"),
    pytest.param(lambda: sentiment_classifier(embeddings=np.ones((4, 3)), vocab_size=5), r"vocab_size=5 but the embedding matrix has 4 rows", id="sentiment-size-mismatch"),
    pytest.param(lambda: sentiment_classifier(vocab_size=10, recurrent_kwargs=[("dropout", 0.1)]), r"recurrent_kwargs must be a dict or None", id="sentiment-recurrent-kwargs"),
    pytest.param(lambda: sentiment_classifier_from_preset("seed-torch-lstmnet", vocab_size=5, unitz=2), r"unknown override 'unitz' for preset 'seed-torch-lstmnet'", id="preset-unknown-override"),
    pytest.param(lambda: sentiment_classifier_from_preset("seed-lstm", vocab_size=5), r"Unknown sentiment preset 'seed-lstm'; known presets: seed-keras", id="preset-name"),
    pytest.param(lambda: language_model_preset("ptb-tiny"), r"Unknown language-model preset 'ptb-tiny'; known presets: ptb-large", id="lm-preset-name"),
    pytest.param(lambda: recurrent_layer("zoo_lstm", 4, unitz=3), r"Unrecognized keyword arguments passed to LSTMCell: \{'unitz': 3\}", id="unknown-layer-argument"),
    pytest.param(lambda: sequence_tagger(1, vocab_size=10), r"num_tags must be >= 2; got num_tags=1", id="tagger-tags"),
    pytest.param(lambda: sequence_tagger(3, vocab_size=10, num_layers=0), r"num_layers must be >= 1; got num_layers=0", id="tagger-no-layers"),
    pytest.param(lambda: sequence_tagger(3, vocab_size=10, dropout=float("nan")), r"dropout must be in \[0, 1\); got dropout=nan", id="tagger-dropout-nan"),
    pytest.param(lambda: sequence_tagger(3, vocab_size=10, char_features=True), r"char_features=True needs char_vocab_size", id="tagger-chars-no-vocab"),
    pytest.param(lambda: sequence_tagger(3, vocab_size=10, char_features=True, char_vocab_size=2), r"char_vocab_size must be >= 3; got char_vocab_size=2", id="tagger-char-vocab"),
    pytest.param(lambda: sequence_tagger(3, vocab_size=10, char_features=True, char_vocab_size=9, char_units=0), r"char_units must be >= 1; got char_units=0", id="tagger-char-units"),
    pytest.param(lambda: TokenEmbedding(5, 2, unknown_id=5), r"unknown_id must be None or an id in \[0, 5\); got unknown_id=5", id="embedding-unknown-id"),
    pytest.param(lambda: token_embedding(vocab_size=0), r"vocab_size must be >= 2; got vocab_size=0", id="embedding-vocab-size"),
]  # fmt: skip


@pytest.mark.parametrize("call, pattern", LAYER_ARGUMENTS)
def test_layer_and_factory_arguments_name_the_argument_and_range(call, pattern):
    with pytest.raises(ValueError) as error:
        call()
    _check(error, pattern)


# ------------------------------------------------------------------------------ token ids
# Keras's Embedding wraps -1 to the last row and, under XLA, clamps ids >= vocabulary to the
# last row. The zoo's embeddings refuse them eagerly (ValueError) and in graphs
# (InvalidArgumentError); under XLA, where TensorFlow drops assertions, they read the row of
# `unknown_id` (documented in lstm_zoo.layers.embedding).


def _embedding(kind):
    if kind == "token":
        layer = token_embedding(vocab_size=5, embedding_dim=2)
    else:
        layer = ReversibleEmbedding(5, 2, mask_zero=True, name="token_embedding")
    layer.build((None, None))
    return layer


ID_CASES = [
    pytest.param(kind, ids, mode, id=f"{kind}-{label}-{mode}")
    for kind in ("token", "reversible")
    for label, ids in (("negative", [[-1, 2]]), ("vocab-size", [[1, 5]]), ("huge", [[2**30, 1]]))
    for mode in ("eager", "graph")
]


@pytest.mark.parametrize("kind, ids, mode", ID_CASES)
def test_ids_outside_the_vocabulary_are_errors(kind, ids, mode):
    layer = _embedding(kind)
    ids = tf.constant(ids)
    if mode == "eager":
        with pytest.raises(ValueError) as error:
            layer(ids)
        _check(error, r"token_embedding: id -?\d+ at position \[0, \d\] is outside the "
               r"vocabulary \[0, 5\)")  # fmt: skip
    else:
        with pytest.raises(tf.errors.InvalidArgumentError) as error:
            tf.function(layer)(ids)
        _check(error, r"token_embedding: a token id is outside the vocabulary \[0, 5\)")


@pytest.mark.parametrize("kind, unknown_row", [("token", 1), ("reversible", 0)])
def test_under_xla_out_of_range_ids_read_the_unknown_row_never_another_word(kind, unknown_row):
    layer = _embedding(kind)
    table = layer.embeddings.numpy()
    out = tf.function(layer, jit_compile=True)(tf.constant([[-1, 5, 3, 2**30]])).numpy()[0]
    np.testing.assert_array_equal(out[[0, 1, 3]], np.repeat(table[[unknown_row]], 3, axis=0))
    np.testing.assert_array_equal(out[2], table[3])  # a valid id is untouched


def test_a_model_refuses_out_of_range_ids_in_call_and_predict():
    model = sentiment_classifier(vocab_size=6, embedding_dim=2, units=2)
    with pytest.raises(ValueError, match=r"token_embedding: id 6 at position \[0, 1\]"):
        model(np.array([[1, 6]]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"outside the vocabulary \[0, 6\)"):
        model.predict(np.array([[1, -4]]), verbose=0)


# ------------------------------------------------------------------------------ generation


class Uniform(StepModel):
    """Every next token equally likely over 6 ids (cheap to trace)."""

    vocab_size = 6

    def initial_states(self, batch_size):
        return (tf.zeros(tf.stack([batch_size, 1])),)

    def next(self, token_ids, states):
        return tf.zeros([tf.shape(token_ids)[0], self.vocab_size]), states


GENERATION = [
    pytest.param(lambda s: generate(s, [[1]], 0), r"max_length must be >= 1; got 0", id="max-length-zero"),
    pytest.param(lambda s: generate(s, [[1]], -5), r"max_length must be >= 1; got -5", id="max-length-negative"),
    pytest.param(lambda s: generate(s, [[1]], 4.0), r"max_length must be a Python int; got 4\.0", id="max-length-float"),
    pytest.param(lambda s: generate(s, [[1]], True), r"max_length must be a Python int; got True", id="max-length-bool"),
    pytest.param(lambda s: generate(s, [[1, 2, 3]], 2), r"prompt 0 has 3 tokens; max_length is 2", id="prompt-too-long"),
    pytest.param(lambda s: generate(s, [[1], []], 4), r"prompt 1 must be a non-empty list of ids", id="prompt-empty"),
    pytest.param(lambda s: generate(s, [[1, 0, 2]], 4), r"prompt 0, position 1: id 0 is padding or outside the vocabulary \[1, 6\)", id="prompt-padding"),
    pytest.param(lambda s: generate(s, [[1, 6]], 4), r"prompt 0, position 1: id 6 is padding or outside the vocabulary \[1, 6\)", id="prompt-id-too-large"),
    pytest.param(lambda s: generate(s, [[-1]], 4), r"prompt 0, position 0: id -1 is padding or outside", id="prompt-id-negative"),
    pytest.param(lambda s: generate(s, [[2, 9]], 4, jit_compile=True), r"prompt 0, position 1: id 9 is padding or outside", id="prompt-id-xla"),
    pytest.param(lambda s: generate(s, [[1.5]], 4), r"prompt 0 holds non-integer ids", id="prompt-float-ids"),
    pytest.param(lambda s: generate(s, [1, 2], 4), r"prompts must be a batch \(a list of lists of ids\)", id="prompt-not-batch"),
    pytest.param(lambda s: generate(s, [], 4), r"no prompts given", id="no-prompts"),
    pytest.param(lambda s: generate(s, [[1]], 4, end_token=0), r"end_token=0 is padding \(0\) or outside the vocabulary \[1, 6\)", id="end-token-padding"),
    pytest.param(lambda s: generate(s, [[1]], 4, end_token=6), r"end_token=6 is padding \(0\) or outside the vocabulary \[1, 6\)", id="end-token-too-large"),
    pytest.param(lambda s: generate(s, [[1]], 4, end_token="<eos>"), r"end_token must be an int id or None; got '<eos>'", id="end-token-string"),
    pytest.param(lambda s: generate(s, [[1]], 4, seed=2**64), r"seed must fit in 64 bits", id="seed-too-large"),
    pytest.param(lambda s: generate(s, [[1]], 4, seed="abc"), r"seed must be an int or None; got seed='abc'", id="seed-string"),
    pytest.param(lambda s: generate(s, [[1]], 4, "nucleus"), r"Unknown sampler 'nucleus'; known samplers: beam, greedy", id="sampler-name"),
    pytest.param(lambda s: generate(s, [[1]], 4, "greedy", k=3), r"bad arguments for sampler 'greedy'", id="sampler-kwargs"),
    pytest.param(lambda s: generate(s, [[1]], 4, "top_k", k=7), r"TopKSampler: k=7 exceeds the vocabulary size 6", id="top-k-above-vocab"),
    pytest.param(lambda s: get_sampler("top_k", k=0), r"k must be an integer >= 1; got k=0", id="top-k-zero"),
    pytest.param(lambda s: get_sampler("top_k", k=2.5), r"k must be an integer >= 1; got k=2\.5", id="top-k-float"),
    pytest.param(lambda s: get_sampler("top_p", p=0), r"p must be in \(0, 1\]; got p=0", id="top-p-zero"),
    pytest.param(lambda s: get_sampler("top_p", p=1.5), r"p must be in \(0, 1\]; got p=1\.5", id="top-p-above-one"),
    pytest.param(lambda s: get_sampler("top_p", p=float("nan")), r"p must be in \(0, 1\]; got p=nan", id="top-p-nan"),
    pytest.param(lambda s: get_sampler("top_p", p="0.9"), r"p must be a number in \(0, 1\]; got p='0\.9'", id="top-p-string"),
    pytest.param(lambda s: get_sampler("top_p", k=0), r"k must be None or an integer >= 1; got k=0", id="top-p-k"),
    pytest.param(lambda s: get_sampler("random", temperature=0), r"temperature must be > 0; got temperature=0", id="temperature-zero"),
    pytest.param(lambda s: get_sampler("top_k", temperature=-1.0), r"temperature must be > 0; got temperature=-1\.0", id="temperature-negative"),
    pytest.param(lambda s: get_sampler("random", temperature=float("inf")), r"temperature must be > 0; got temperature=inf", id="temperature-inf"),
    pytest.param(lambda s: get_sampler("greedy", temperature="hot"), r"temperature must be a number > 0; got temperature='hot'", id="temperature-string"),
    pytest.param(lambda s: get_sampler("beam", num_beams=0), r"num_beams must be an integer >= 1; got num_beams=0", id="num-beams-zero"),
    pytest.param(lambda s: get_sampler("beam", num_beams=2.0), r"num_beams must be an integer >= 1; got num_beams=2\.0", id="num-beams-float"),
    pytest.param(lambda s: get_sampler("beam", length_penalty=-0.5), r"length_penalty must be >= 0; got length_penalty=-0\.5", id="length-penalty-negative"),
    pytest.param(lambda s: get_sampler("beam", length_penalty=float("nan")), r"length_penalty must be >= 0; got length_penalty=nan", id="length-penalty-nan"),
    pytest.param(lambda s: get_sampler(get_sampler("greedy"), temperature=2.0), r"sampler arguments \['temperature'\] given with a Sampler instance", id="sampler-instance-kwargs"),
    pytest.param(lambda s: generate("lm.keras", [[1]], 4), r"expected a language model .* or a StepModel .*; got str", id="model-not-a-model"),
    pytest.param(lambda s: generate(sentiment_classifier(vocab_size=6, embedding_dim=2, units=2), [[1]], 4), r"model 'sentiment_classifier' has no layer named 'logits' and its token_embedding", id="model-not-a-language-model"),
    pytest.param(lambda s: generate(sequence_tagger(2, vocab_size=6, embedding_dim=2, units=2), [[1]], 4), r"model 'sequence_tagger' has no recurrent layer named 'encoder_0'", id="model-bidirectional-tagger"),
    pytest.param(lambda s: generate_text(s, ["<pad>", "a"], ["a"], 4), r"vocabulary must be a lstm_zoo\.text\.Vocabulary", id="text-vocabulary-list"),
    pytest.param(lambda s: generate_text(s, Vocabulary(list("abcd")), "a b", 4), r"prompts must be a list of strings; got one string", id="text-one-string"),
    pytest.param(lambda s: generate_text(s, Vocabulary(list("abcd")), [3], 4), r"prompt 0 must be a string; got 3", id="text-prompt-not-string"),
    pytest.param(lambda s: generate_text(s, Vocabulary(list("abcd")), [" "], 4), r"prompt 0 \(' '\) has no tokens", id="text-empty-prompt"),
    pytest.param(lambda s: generate_text(s, Vocabulary(list("ab")), ["a"], 4), r"the vocabulary has 4 tokens but the model has 6 ids", id="text-vocabulary-size"),
    pytest.param(lambda s: generate_text(s, Vocabulary(list("abcd")), ["a"], 4, end_token="z"), r"end_token 'z' is not in the vocabulary", id="text-end-token"),
    pytest.param(lambda s: generate_text(s, Vocabulary(list("abcd")), ["a"], 4, level="byte"), r"level must be 'word' or 'char'; got 'byte'", id="text-level"),
]  # fmt: skip


@pytest.mark.parametrize("call, pattern", GENERATION)
def test_generation_arguments_name_the_argument_and_range(call, pattern):
    with pytest.raises(ValueError) as error:
        call(Uniform())
    _check(error, pattern)


# ------------------------------------------------------------------------------ export


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    return {
        "classify": sentiment_classifier(vocab_size=4, embedding_dim=2, units=2),
        "tag": sequence_tagger(2, vocab_size=4, embedding_dim=2, units=2),
        "chars": sequence_tagger(
            2, vocab_size=4, embedding_dim=2, units=2, char_features=True, char_vocab_size=5,
            char_embedding_dim=2, char_units=2,
        ),
        "generate": language_model(4, units=2, num_layers=1),
    }  # fmt: skip


EXPORT = [
    pytest.param(lambda m, p: export_saved_model(m["classify"], p / "x", "summarize", VOCAB), r"task must be one of \('classify', 'tag', 'generate'\); got 'summarize'", id="task"),
    pytest.param(lambda m, p: export_saved_model(m["classify"], _write(p, "f.txt", "x"), "classify", VOCAB), r"f\.txt: exists and is not a directory", id="path-is-a-file"),
    pytest.param(lambda m, p: export_saved_model(m["classify"], _full_directory(p / "old"), "classify", VOCAB), r"old: the directory is not empty; pass overwrite=True", id="non-empty-directory"),
    pytest.param(lambda m, p: export_saved_model(m["classify"], p / "x", "classify", [*VOCAB, "dog"]), r"vocabulary has 5 tokens but the model's token_embedding has 4 rows", id="vocabulary-longer"),
    pytest.param(lambda m, p: export_saved_model(m["classify"], p / "x", "classify", VOCAB[:3]), r"vocabulary has 3 tokens but the model's token_embedding has 4 rows", id="vocabulary-shorter"),
    pytest.param(lambda m, p: export_saved_model(m["classify"], p / "x", "classify", ["<pad>", "a", "a", "b"]), r"the vocabulary has duplicate tokens", id="vocabulary-duplicates"),
    pytest.param(lambda m, p: export_saved_model(m["classify"], p / "x", "classify", "abcd"), r"vocabulary must be a list of tokens", id="vocabulary-string"),
    pytest.param(lambda m, p: export_saved_model(m["classify"], p / "x", "classify", VOCAB, labels=["a", "b", "c"]), r"the model has 2 classes; got 3 labels", id="classify-labels"),
    pytest.param(lambda m, p: export_saved_model(m["classify"], p / "x", "classify", VOCAB, level="byte"), r"level must be 'word' or 'char'; got 'byte'", id="level"),
    pytest.param(lambda m, p: export_saved_model(m["tag"], p / "x", "tag", VOCAB), r"task='tag' needs labels", id="tag-no-labels"),
    pytest.param(lambda m, p: export_saved_model(m["tag"], p / "x", "tag", VOCAB, labels=["A", "B", "C"]), r"the model has 2 tags; got 3 labels", id="tag-labels"),
    pytest.param(lambda m, p: export_saved_model(m["chars"], p / "x", "tag", VOCAB, labels=["A", "B"]), r"this tagger reads characters: pass characters=", id="chars-missing"),
    pytest.param(lambda m, p: export_saved_model(m["chars"], p / "x", "tag", VOCAB, labels=["A", "B"], characters=["<pad>", "<oov>", "a"]), r"characters has 3 entries but the model's character embedding has 5 rows", id="chars-size"),
    pytest.param(lambda m, p: export_saved_model(m["generate"], p / "x", "generate", VOCAB, samplers=()), r"task='generate' needs at least one sampler name", id="no-samplers"),
    pytest.param(lambda m, p: export_saved_model(m["generate"], p / "x", "generate", VOCAB, samplers=("nucleus",)), r"Unknown sampler 'nucleus'", id="sampler-name"),
    pytest.param(lambda m, p: export_saved_model(m["generate"], p / "x", "generate", VOCAB, samplers=("beam",), num_beams=0), r"num_beams must be an integer >= 1; got num_beams=0", id="num-beams"),
    pytest.param(lambda m, p: export_saved_model(m["generate"], p / "x", "generate", VOCAB, samplers=("top_k",), sampler_options={"top_k": {"k": 0}}), r"k must be an integer >= 1; got k=0", id="sampler-options"),
    pytest.param(lambda m, p: export_saved_model(m["generate"], p / "x", "generate", VOCAB, end_token="<eos>"), r"end_token '<eos>' is not in the vocabulary", id="end-token"),
    pytest.param(lambda m, p: export_saved_model(m["classify"], p / "x", "tag", keras.layers.TextVectorization()), r"a TextVectorization vocabulary is supported for task='classify'", id="vectorizer-task"),
]  # fmt: skip


@pytest.mark.parametrize("call, pattern", EXPORT)
def test_export_arguments_name_the_culprit(models, tmp_path, call, pattern):
    with pytest.raises(ValueError) as error:
        call(models, tmp_path)
    _check(error, pattern)
    assert not (tmp_path / "x").exists()  # nothing written
