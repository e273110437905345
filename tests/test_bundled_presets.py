"""Every bundled preset loads offline by name and predicts on real sentences; with the shared
data (marker `data`) its recorded test metric is measured again on the test split."""

import json

import numpy as np
import pytest

from lstm_zoo.presets import available_presets, from_preset
from lstm_zoo.presets.registry import BUNDLED_ROOT

CLASSIFIER_SENTENCES = {
    # SST-2 style sentences written for this test (not from the splits).
    "positive": [
        "a gorgeous , witty and deeply moving film .",
        "one of the best films of the year .",
    ],
    "negative": ["a dull , tedious mess .", "the plot is stupid and the acting is awful ."],
}


def _metadata(name):
    return json.loads((BUNDLED_ROOT / name / "metadata.json").read_text(encoding="utf-8"))


def _tasks(task, level=None):
    """Bundled presets of `task` (and of preprocessor `level`, when given)."""
    names = [n for n in available_presets() if _metadata(n)["task"] == task]
    return [n for n in names if level is None or _level(n) == level]


def _level(name):
    config = json.loads((BUNDLED_ROOT / name / "config.json").read_text(encoding="utf-8"))
    return config["preprocessor"]["level"]


def test_every_bundled_preset_is_small_and_documented():
    assert available_presets(), "no bundled presets"
    for name in available_presets():
        metadata = _metadata(name)
        for key in ("data", "training_command", "metrics", "data_license", "test_split"):
            assert key in metadata, (name, key)
        size = sum(p.stat().st_size for p in (BUNDLED_ROOT / name).rglob("*") if p.is_file())
        assert size <= 8 * 1024 * 1024, (name, size)


@pytest.mark.parametrize("name", _tasks("text_classifier"))
def test_classifier_preset_reads_real_sentences(name):
    model = from_preset(name)
    for label, sentences in CLASSIFIER_SENTENCES.items():
        assert model.predict_labels(sentences) == [label] * len(sentences), label


@pytest.mark.parametrize("name", _tasks("language_model", level="char"))
def test_char_language_model_preset_writes_text(name):
    model = from_preset(name)
    text = model.generate(["ROMEO:\n"], max_length=60)[0]
    assert text.startswith("romeo:\n" if model.preprocessor.lowercase else "ROMEO:\n")
    assert len(text) == 60 and " " in text[7:]
    # Beyond chance: the preset scores Shakespeare far better than uniform over its characters.
    bits = np.log2(model.perplexity(["First Citizen:\nBefore we proceed any further, hear me."]))
    assert bits < 0.6 * np.log2(len(model.preprocessor.vocabulary))


def _data(*parts):
    from lstm_zoo.data import dataset_path

    try:
        return dataset_path(*parts)
    except FileNotFoundError as error:
        pytest.skip(f"shared data absent: {error}")


@pytest.mark.data
@pytest.mark.parametrize("name", _tasks("text_classifier"))
def test_classifier_preset_test_accuracy_again(name):
    from lstm_zoo.data.classification import read_label_text_lines, read_text_label_csv

    split = _metadata(name)["test_split"]
    if split.startswith("sst2/"):
        texts, labels = read_label_text_lines(_data(*split.split("/")))
        recorded = _metadata(name)["metrics"]["test_accuracy"]
        # The whole test split, scored as the training script scored it: only float rounding
        # across machines may move it (tolerance 0.3 points = 5 of 1,821 sentences).
        tolerance = 0.003
    else:
        assert split == "imdb/imdb_test.csv.gz", split
        texts, labels = read_text_label_csv(_data("imdb", "imdb_test.csv.gz"))
        texts, labels = texts[::25], np.asarray(labels)[::25]
        recorded = _metadata(name)["metrics"]["test_accuracy_every_25th"]
        tolerance = 0.003  # every 25th test review (1,000): 3 reviews of float rounding
    model = from_preset(name)
    accuracy = float((model.probabilities(list(texts)).argmax(-1) == labels).mean())
    assert accuracy == pytest.approx(recorded, abs=tolerance)


@pytest.mark.parametrize("name", _tasks("language_model", level="word"))
def test_word_language_model_preset_continues_text(name):
    model = from_preset(name)
    # (after "... said" greedy decoding ends the sentence at once: PTB's lines end so)
    words = model.generate(["the stock market"], max_length=12)[0].split()
    assert words[:3] == ["the", "stock", "market"] and len(words) >= 4
    vocabulary = set(model.preprocessor.vocabulary.tokens)
    assert all(w in vocabulary for w in words), words
    # Beyond chance: a PTB-style sentence scores far below uniform over the vocabulary.
    text = "the company said it expects to report a loss for the third quarter <eos>"
    assert model.perplexity([text]) < 0.1 * len(vocabulary)


@pytest.mark.data
@pytest.mark.parametrize("name", _tasks("language_model", level="word"))
def test_word_lm_preset_test_perplexity_again(name):
    from lstm_zoo.data import read_lm_tokens

    tokens = read_lm_tokens(_data("ptb", "ptb.test.txt"))[:20000]
    perplexity = from_preset(name).stream_perplexity(tokens, batch_size=20, num_steps=20)
    recorded = _metadata(name)["metrics"]["test_perplexity_first_20000"]
    # The first 20,000 test tokens scored as the trainer scored them (20 x 20 windows, state
    # carried): only float rounding across machines may move it (0.2 %).
    assert perplexity == pytest.approx(recorded, rel=0.002)
    assert _metadata(name)["metrics"]["test_perplexity"] <= 116  # ptb-small quality


@pytest.mark.data
@pytest.mark.parametrize("name", _tasks("language_model", level="char"))
def test_char_lm_preset_test_bits_again(name):
    import sys
    from pathlib import Path

    _data("tinyshakespeare", "input.txt")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import train_presets
    finally:
        sys.path.pop(0)
    model = from_preset(name)
    test_part = train_presets._shakespeare_parts()[2]
    data = train_presets.shakespeare_windows(model, test_part)
    loss = model.evaluate(data, verbose=0, return_dict=True)["loss"]
    bits = loss / np.log(2)
    # The same windows as the training script's test score; tolerance 0.01 bits/char.
    assert bits == pytest.approx(_metadata(name)["metrics"]["test_bits_per_char"], abs=0.01)


# Sentences written for this test (not from the splits), gold UPOS by UD's guidelines; "book"
# is a noun in one and a verb in another. (Known miss, not tested: the headline-like "The dog
# runs ." gets "runs" NOUN.)
TAGGED_SENTENCES = [
    ("She gave him a book .", "PRON VERB PRON DET NOUN PUNCT"),
    (
        "I would like to book a flight to Boston on Friday .",
        "PRON AUX VERB PART VERB DET NOUN ADP PROPN ADP PROPN PUNCT",
    ),
    ("The dog runs in the park every morning .", "DET NOUN VERB ADP DET NOUN DET NOUN PUNCT"),
    ("They have not seen the new movie yet .", "PRON AUX PART VERB DET ADJ NOUN ADV PUNCT"),
    (
        "My sister lives in London and works for a bank .",
        "PRON NOUN VERB ADP PROPN CCONJ VERB ADP DET NOUN PUNCT",
    ),
]


def test_ewt_upos_preset_tags_real_sentences():
    if "ewt-upos-bilstm" not in available_presets():
        pytest.skip("ewt-upos-bilstm is not bundled")
    model = from_preset("ewt-upos-bilstm")
    sentences = [text for text, _ in TAGGED_SENTENCES]
    assert model.predict_tags(sentences) == [tags.split() for _, tags in TAGGED_SENTENCES]


@pytest.mark.data
def test_ewt_upos_preset_test_slice_accuracy_again():
    if "ewt-upos-bilstm" not in available_presets():
        pytest.skip("ewt-upos-bilstm is not bundled")
    import sys
    from pathlib import Path

    from lstm_zoo.data.conll import read_conllu

    sentences = read_conllu(_data("ud_en_ewt", "en_ewt-ud-test.conllu"))[:500]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        from preset_ewt import token_accuracy
    finally:
        sys.path.pop(0)
    accuracy = token_accuracy(from_preset("ewt-upos-bilstm"), sentences)
    # The first 500 test sentences (about 7,000 tokens) scored as the trainer scored the
    # float16 preset it wrote: only float rounding across machines may move it (0.1 point).
    recorded = _metadata("ewt-upos-bilstm")["metrics"]["test_accuracy_first_500_float16"]
    assert accuracy == pytest.approx(recorded, abs=0.001)
