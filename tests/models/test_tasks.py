"""Task models: raw strings and ids give the same fit/predict; tf.data; .keras round trips
(safe_mode); export agrees with predict; span metrics in evaluate and each epoch."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lstm_zoo.models import LanguageModel, SequenceTagger, TextClassifier
from lstm_zoo.models.spans import chunk_scheme, span_scores
from lstm_zoo.text import TextPreprocessor

TEXTS = ["a good film", "a BAD film", "good\u3000good", "bad\u2029film ok"]
LABELS = ["pos", "neg", "pos", "neg"]
WORDS = ["a", "good", "bad", "film"]


def _classifier(**kwargs):
    keras.utils.set_random_seed(3)
    model = TextClassifier.build(WORDS, ["neg", "pos"], units=4, embedding_dim=4, **kwargs)
    model.compile_default(learning_rate=0.05)
    return model


def _round_trip(model, tmp_path):
    model.save(tmp_path / "model.keras")
    return keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)


def test_classifier_strings_equal_ids(tmp_path):
    by_text, by_ids = _classifier(), _classifier()
    ids = by_ids.preprocessor(tf.constant(TEXTS)).numpy()
    assert ids.tolist()[2] == [3, 3, 0] and ids.tolist()[3] == [4, 5, 1]
    np.testing.assert_allclose(by_text.predict(TEXTS, verbose=0), by_ids.predict(ids, verbose=0))
    by_text.fit(TEXTS, LABELS, batch_size=4, epochs=2, shuffle=False, verbose=0)
    by_ids.fit(ids, np.array([1, 0, 1, 0]), batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(by_text.get_weights(), by_ids.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    data = tf.data.Dataset.from_tensor_slices((TEXTS, [1, 0, 1, 0])).batch(2)
    text_metrics = by_text.evaluate(data, verbose=0, return_dict=True)
    id_metrics = by_ids.evaluate(ids, np.array([1, 0, 1, 0]), verbose=0, return_dict=True)
    assert text_metrics == pytest.approx(id_metrics)
    loaded = _round_trip(by_text, tmp_path)
    assert isinstance(loaded, TextClassifier) and loaded.labels == ["neg", "pos"]
    np.testing.assert_array_equal(
        loaded.predict(TEXTS, verbose=0), by_text.predict(TEXTS, verbose=0)
    )


def test_classifier_export_serves_the_same_rule(tmp_path):
    model = _classifier()
    model.export(tmp_path / "saved")
    served = tf.saved_model.load(str(tmp_path / "saved")).signatures["classify"]
    out = served(texts=tf.constant(TEXTS))
    np.testing.assert_allclose(out["probabilities"].numpy(), model.probabilities(TEXTS), atol=1e-6)
    assert [s.decode() for s in out["labels"].numpy()] == model.predict_labels(TEXTS)


def test_word_punct_classifier_keeps_its_rule_in_keras_preset_and_export(tmp_path):
    from lstm_zoo.presets import from_preset, save_to_preset

    model = _classifier(level="word_punct")
    texts = ["a good film!", "(bad) film...", "good,good"]
    ids = [[t for t in row if t] for row in model.preprocessor(tf.constant(texts)).numpy()]
    assert ids == [[2, 3, 5, 1], [1, 4, 1, 5, 1, 1, 1], [3, 1, 3]]  # <unk> = 1: punctuation
    assert model.preprocessor.encode(texts) == ids
    expected = model.probabilities(texts)
    loaded = _round_trip(model, tmp_path)
    assert loaded.preprocessor.level == "word_punct"
    np.testing.assert_allclose(loaded.probabilities(texts), expected, atol=1e-6)
    save_to_preset(model, tmp_path / "preset")
    np.testing.assert_allclose(from_preset(tmp_path / "preset").probabilities(texts), expected)
    model.export(tmp_path / "saved")
    served = tf.saved_model.load(str(tmp_path / "saved")).signatures["classify"]
    np.testing.assert_allclose(
        served(texts=tf.constant(texts))["probabilities"].numpy(), expected, atol=1e-6
    )


def test_classifier_bad_input():
    model = _classifier()
    with pytest.raises(ValueError, match="unknown label 'meh'"):
        model.fit(TEXTS, ["pos", "neg", "meh", "pos"], verbose=0)
    with pytest.raises(ValueError, match="one string"):
        model.predict("a good film")
    with pytest.raises(ValueError, match="2 classes; got 3 labels"):
        TextClassifier(model.backbone, model.preprocessor, labels=["a", "b", "c"])


SENTENCES = [["John", "lives", "in", "Paris"], ["Mary", "Smith", "runs"]]
TAGS = [["B-PER", "O", "O", "B-LOC"], ["B-PER", "I-PER", "O"]]
TAG_SET = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def _tagger(**kwargs):
    keras.utils.set_random_seed(4)
    vocabulary = ["john", "lives", "in", "paris", "mary", "smith", "runs"]
    model = SequenceTagger.build(
        vocabulary, TAG_SET, lowercase=True, units=4, embedding_dim=4, **kwargs
    )
    model.compile_default(learning_rate=0.05)
    return model


def test_tagger_words_strings_and_ids_agree(tmp_path):
    model = _tagger()
    ids = model.preprocessor(tf.ragged.constant(SENTENCES).to_tensor("")).numpy()
    by_words = model.predict(SENTENCES, verbose=0)
    np.testing.assert_allclose(by_words, model.predict(ids, verbose=0))
    sentences = [" ".join(s) for s in SENTENCES]
    assert model.predict_tags(sentences) == model.predict_tags(SENTENCES)
    history = model.fit(
        SENTENCES, TAGS, epochs=3, batch_size=2, verbose=0, validation_data=(SENTENCES, TAGS)
    ).history
    per_type = ("val_span_f1_PER", "val_span_precision_PER", "val_span_recall_LOC")
    for key in ("val_span_f1", "val_span_precision", "val_span_recall", *per_type):
        assert len(history[key]) == 3
    results = model.evaluate(SENTENCES, TAGS, verbose=0, return_dict=True)
    truth, guess = TAGS, model.predict_tags(SENTENCES)
    assert results["span_f1"] == pytest.approx(span_scores(truth, guess)["f1"])
    assert "sparse_categorical_accuracy" in results
    loaded = _round_trip(model, tmp_path)
    assert loaded.predict_tags(SENTENCES) == guess


def test_crf_tagger_trains_on_words_and_exports(tmp_path):
    model = _tagger(crf=True)
    model.fit(SENTENCES, TAGS, epochs=2, batch_size=2, verbose=0)
    tags = model.predict_tags(SENTENCES)
    assert [len(t) for t in tags] == [4, 3]
    loaded = _round_trip(model, tmp_path)
    assert loaded.predict_tags(SENTENCES) == tags
    model.export(tmp_path / "saved")
    served = tf.saved_model.load(str(tmp_path / "saved")).signatures["tag"]
    out = served(texts=tf.constant(["JOHN\u00a0lives  in Paris", "Mary Smith runs"]))
    got = [[t.decode() for t in row[:n]] for row, n in zip(out["tags"].numpy(), out["lengths"])]
    assert got == tags


def test_char_feature_crf_tagger_exports_with_its_characters(tmp_path):
    characters = ["<pad>", "<unk>", *sorted(set("JohnlivesParyMmtu"))]  # "O", "S", "k": id 1
    model = _tagger(crf=True, characters=characters, char_embedding_dim=3, char_units=2)
    model.fit(SENTENCES, TAGS, epochs=2, batch_size=2, verbose=0)
    sentences = [["JOHN", "lives", "in", "Paris"], ["Mary", "Smith", "runs", "ok"]]
    emissions = model.predict(sentences, verbose=0)["emissions"]
    model.export(tmp_path / "saved")
    served = tf.saved_model.load(str(tmp_path / "saved")).signatures["tag"]
    out = served(texts=tf.constant([" ".join(s) for s in sentences]))
    got = [[t.decode() for t in row[:n]] for row, n in zip(out["tags"].numpy(), out["lengths"])]
    assert got == model.predict_tags(sentences)
    # The characters reach the served model: other characters give other emissions.
    changed = model.predict([["JaHN", "lives", "in", "Paris"]], verbose=0)["emissions"]
    assert not np.allclose(changed[0, 0], emissions[0, 0])


def test_tagger_tags_in_a_dataset_and_bad_tags():
    model = _tagger()
    data = tf.data.Dataset.from_tensor_slices(
        (tf.ragged.constant(SENTENCES), tf.ragged.constant(TAGS))
    ).ragged_batch(2)
    results = model.evaluate(data, verbose=0, return_dict=True)
    assert results == pytest.approx(model.evaluate(SENTENCES, TAGS, verbose=0, return_dict=True))
    with pytest.raises(ValueError, match="sentence 1: unknown tag 'B-ORG'"):
        model.fit(SENTENCES, [TAGS[0], ["B-ORG", "O", "O"]], verbose=0)


def test_upos_tagger_has_no_span_metrics():
    keras.utils.set_random_seed(4)
    model = SequenceTagger.build(["a"], ["DET", "NOUN"], units=2, embedding_dim=2)
    model.compile_default()
    results = model.evaluate([["a", "b"]], [["DET", "NOUN"]], verbose=0, return_dict=True)
    assert not any(k.startswith("span") for k in results)


def test_span_scores_per_type_and_schemes():
    assert chunk_scheme(TAG_SET) == "bio"
    assert chunk_scheme(["O", "S-PER", "B-PER", "E-PER"]) == "bioes"
    assert chunk_scheme(["NOUN", "VERB"]) is None
    scores = span_scores(
        [["B-PER", "I-PER", "O", "B-LOC"], ["I-ORG", "O"]],
        [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O"]],
    )
    assert scores["per_type"]["PER"]["f1"] == 1.0
    assert scores["per_type"]["LOC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    # conlleval: an I-ORG after O starts a chunk, so I-ORG and B-ORG spans are equal.
    assert scores["per_type"]["ORG"]["precision"] == 0.5
    assert scores["precision"] == pytest.approx(2 / 3) and scores["recall"] == pytest.approx(2 / 3)
    # conlleval reads chunk boundaries: B-LOC I-LOC at the end is the chunk B-LOC E-LOC.
    same = span_scores([["S-PER", "B-LOC", "E-LOC"]], [["S-PER", "B-LOC", "I-LOC"]], "bioes")
    assert same["f1"] == 1.0
    split = span_scores([["S-PER", "B-LOC", "E-LOC"]], [["S-PER", "S-LOC", "S-LOC"]], "bioes")
    assert split["per_type"]["LOC"]["f1"] == 0.0 and split["per_type"]["PER"]["f1"] == 1.0


def _lm():
    keras.utils.set_random_seed(5)
    model = LanguageModel.build(list("abc \n"), level="char", units=4, num_layers=1)
    model.compile_default(learning_rate=0.05)
    return model


def test_language_model_strings_equal_ids_and_generate(tmp_path):
    by_text, by_ids = _lm(), _lm()
    texts = ["abc ab\n", "cab\u3000"]
    ids = by_ids.preprocessor(tf.constant(texts)).numpy()
    assert ids[1].tolist() == [4, 2, 3, 1, 0, 0, 0]  # U+3000 is no character of the vocabulary
    by_text.fit(texts, epochs=2, batch_size=2, shuffle=False, verbose=0)
    by_ids.fit(ids[:, :-1], ids[:, 1:], epochs=2, batch_size=2, shuffle=False, verbose=0)
    for a, b in zip(by_text.get_weights(), by_ids.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    greedy = by_text.generate(["ab", "c"], max_length=6)
    assert [len(t) for t in greedy] == [6, 6] and greedy[0].startswith("ab")
    assert len(by_text.generate(["ab"], 5, sampler="beam", num_beams=2)[0]) == 5
    assert by_text.perplexity(texts) == pytest.approx(
        by_text.evaluate(texts, verbose=0, return_dict=True)["perplexity"], rel=1e-4
    )
    loaded = _round_trip(by_text, tmp_path)
    assert loaded.generate(["ab", "c"], max_length=6) == greedy
    by_text.export(tmp_path / "saved")
    served = tf.saved_model.load(str(tmp_path / "saved")).signatures["generate"]
    out = served(prompts=tf.constant(["ab", "c"]), max_length=6, seed=tf.constant([0, 0]))
    assert [t.decode() for t in out["texts"].numpy()] == greedy


def test_language_model_bad_input():
    model = _lm()
    with pytest.raises(ValueError, match="pass y=None"):
        model.fit(["ab"], ["b"], verbose=0)
    with pytest.raises(ValueError, match="prompt 0 .* has no tokens"):
        model.generate([""], 4)
    with pytest.raises(ValueError, match="end_token 'zz'"):
        LanguageModel(model.backbone, model.preprocessor, end_token="zz")


CHAR_SENTENCES = [["The", "Dog", "runs", "."], ["A", "cät", "sleeps"]]
CHAR_TAGS = [["DET", "NOUN", "VERB", "PUNCT"], ["DET", "NOUN", "VERB"]]


def _char_tagger():
    keras.utils.set_random_seed(6)
    characters = ["<pad>", "<unk>", *sorted(set("".join(w for s in CHAR_SENTENCES for w in s)))]
    model = SequenceTagger.build(
        ["the", "dog", "a", "."],
        ["DET", "NOUN", "VERB", "PUNCT"],
        lowercase=True,
        characters=characters[:-2],  # leave two characters unknown
        units=4,
        embedding_dim=4,
        char_embedding_dim=3,
        char_units=2,
    )
    model.compile_default(learning_rate=0.05)
    return model


def test_char_tagger_strings_words_and_ids_agree():
    model = _char_tagger()
    pre = model.preprocessor
    inputs = pre(tf.ragged.constant(CHAR_SENTENCES).to_tensor(""))
    python = pre.encode_words(CHAR_SENTENCES)
    assert [
        row[: len(r)] for row, r in zip(inputs["tokens"].numpy().tolist(), python["tokens"])
    ] == python["tokens"]
    chars = inputs["characters"].numpy()
    for s, sentence in enumerate(python["characters"]):
        for w, word in enumerate(sentence):
            assert chars[s, w, : len(word)].tolist() == word and not chars[s, w, len(word) :].any()
    assert python["characters"][0][1][0] != python["characters"][0][0][0]  # case kept ("D")
    assert pre.encode([" ".join(s) for s in CHAR_SENTENCES]) == python
    ids = {k: v.numpy() for k, v in inputs.items()}
    by_words = model.predict(CHAR_SENTENCES, verbose=0)
    np.testing.assert_allclose(by_words, model.predict(ids, verbose=0), atol=1e-6)
    texts = [" ".join(s) for s in CHAR_SENTENCES]
    np.testing.assert_allclose(by_words, model.predict(texts, verbose=0), atol=1e-6)
    model.fit(CHAR_SENTENCES, CHAR_TAGS, epochs=3, batch_size=2, verbose=0)
    data = tf.data.Dataset.from_tensor_slices(
        (tf.ragged.constant(CHAR_SENTENCES), tf.ragged.constant(CHAR_TAGS))
    ).ragged_batch(2)
    model.fit(data, epochs=1, verbose=0)
    results = model.evaluate(data, verbose=0, return_dict=True)
    assert results == pytest.approx(
        model.evaluate(CHAR_SENTENCES, CHAR_TAGS, verbose=0, return_dict=True)
    )
    assert model.predict_tags(texts) == model.predict_tags(CHAR_SENTENCES)


def test_char_tagger_preset_and_keras_round_trips(tmp_path):
    model = _char_tagger()
    model.fit(CHAR_SENTENCES, CHAR_TAGS, epochs=2, batch_size=2, verbose=0)
    expected = model.predict(CHAR_SENTENCES, verbose=0)
    model.save_to_preset(tmp_path / "preset")
    assert (tmp_path / "preset" / "assets" / "tokenizer" / "characters.json").exists()
    loaded = SequenceTagger.from_preset(tmp_path / "preset")
    assert loaded.preprocessor.characters == model.preprocessor.characters
    np.testing.assert_array_equal(loaded.predict(CHAR_SENTENCES, verbose=0), expected)
    np.testing.assert_array_equal(
        _round_trip(model, tmp_path).predict(CHAR_SENTENCES, verbose=0), expected
    )


def test_char_tagger_needs_matching_preprocessor():
    model = _char_tagger()
    with pytest.raises(ValueError, match="character-feature backbone needs"):
        SequenceTagger(model.backbone, TextPreprocessor(model.preprocessor.vocabulary), ["D"] * 4)
