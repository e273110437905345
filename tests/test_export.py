"""SavedModel export: raw strings in, and a fresh TensorFlow-only process gets the Keras
model's outputs; `.keras` files of every factory load with safe_mode=True."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from lstm_zoo.data.classification import build_vocabulary, encode_texts
from lstm_zoo.data.tagging import (
    build_character_vocabulary,
    build_tagging_vocabularies,
    encode_characters,
    encode_tagged,
    pad,
)
from lstm_zoo.export import class_probabilities, export_saved_model
from lstm_zoo.models import language_model, sentiment_classifier
from lstm_zoo.models.tagger import sequence_tagger

TEXTS = ["a fine film", "A dull , dull film", "unseen words here", "fine"]
SENTENCES = [(["the", "dog", "runs"], ["DET", "NOUN", "VERB"]), (["a", "cat"], ["DET", "NOUN"])]

# Runs in a fresh interpreter where importing lstm_zoo is impossible: only TensorFlow serves.
LOADER = textwrap.dedent(
    """
    import json, sys
    sys.modules["lstm_zoo"] = None  # any import of lstm_zoo now raises ImportError
    import tensorflow as tf
    requests = json.load(open(sys.argv[1]))
    results = {}
    for key, (path, signature, inputs) in requests.items():
        function = tf.saved_model.load(path).signatures[signature]
        outputs = function(**{k: tf.constant(v) for k, v in inputs.items()})
        results[key] = {k: v.numpy().tolist() for k, v in outputs.items()}
        for name, value in results[key].items():
            if value and isinstance(value, list) and isinstance(value[0], (bytes, list)):
                results[key][name] = json.loads(json.dumps(value, default=lambda b: b.decode()))
    json.dump(results, open(sys.argv[2], "w"))
    """
)


def serve_in_fresh_process(tmp_path, requests):
    """{key: (saved model path, signature, inputs)} -> {key: outputs} from a TF-only process."""
    request_file, result_file = tmp_path / "requests.json", tmp_path / "results.json"
    request_file.write_text(json.dumps(requests))
    script = tmp_path / "serve.py"
    script.write_text(LOADER)
    run = subprocess.run(
        [sys.executable, str(script), str(request_file), str(result_file)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(result_file.read_text())


def _decode(values):
    return [[v.decode() if isinstance(v, bytes) else v for v in row] for row in values]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Exports of a binary and a 3-class classifier, a softmax and a CRF tagger."""
    root = tmp_path_factory.mktemp("exports")
    keras.utils.set_random_seed(3)
    vocabulary = build_vocabulary(TEXTS[:2], lowercase=True)
    words, tags = build_tagging_vocabularies(SENTENCES)
    characters = build_character_vocabulary(SENTENCES)
    models = {
        "binary": sentiment_classifier(
            vocab_size=len(vocabulary),
            embedding_dim=6,
            cell="peephole",
            units=4,
            bidirectional=True,
        ),
        "three": sentiment_classifier(
            vocab_size=len(vocabulary), embedding_dim=6, cell="zoo_gru", units=4, num_classes=3
        ),
        "tagger": sequence_tagger(
            len(tags), vocab_size=len(words), embedding_dim=6, units=4, cell="coupled"
        ),
        "chars": sequence_tagger(
            len(tags),
            vocab_size=len(words),
            embedding_dim=6,
            units=4,
            cell="peephole",
            crf=True,
            char_features=True,
            char_vocab_size=len(characters),
            char_units=3,
            char_embedding_dim=4,
        ),
        "crf": sequence_tagger(
            len(tags), vocab_size=len(words), embedding_dim=6, units=4, cell="zoo_lstm", crf=True
        ),
    }
    paths = {}
    for key in ("binary", "three"):
        labels = ["negative", "positive"] if key == "binary" else ["neg", "neutral", "pos"]
        paths[key] = str(root / key)
        export_saved_model(
            models[key], paths[key], "classify", vocabulary, labels=labels, lowercase=True
        )
    for key in ("tagger", "crf", "chars"):
        paths[key] = str(root / key)
        export_saved_model(
            models[key], paths[key], "tag", words, labels=tags, characters=characters
        )
    return {
        "models": models,
        "paths": paths,
        "vocabulary": vocabulary,
        "words": words,
        "tags": tags,
        "characters": characters,
    }


def test_classify_and_tag_served_by_tensorflow_alone_equal_the_keras_models(exported, tmp_path):
    paths = exported["paths"]
    sentences = ["the dog runs", "a cat", "the unknown animal runs fast"]
    tokens = [["the", "dog", "runs", ""], ["a", "cat", "", ""], ["zebra", "runs", "", ""]]
    requests = {
        "binary": (paths["binary"], "classify", {"texts": TEXTS}),
        "three": (paths["three"], "serving_default", {"texts": TEXTS}),
        "tagger": (paths["tagger"], "tag", {"texts": sentences}),
        "crf": (paths["crf"], "tag", {"texts": sentences}),
        "chars": (paths["chars"], "tag", {"texts": sentences}),
        "char_tokens": (paths["chars"], "tag_tokens", {"tokens": tokens}),
        "tokens": (paths["crf"], "tag_tokens", {"tokens": tokens}),
    }
    served = serve_in_fresh_process(tmp_path, requests)

    ids = pad(encode_texts(TEXTS, exported["vocabulary"], lowercase=True))
    for key, labels in (("binary", ["negative", "positive"]), ("three", ["neg", "neutral", "pos"])):
        expected = class_probabilities(exported["models"][key], ids)
        np.testing.assert_allclose(served[key]["probabilities"], expected, rtol=0, atol=1e-6)
        assert served[key]["label_ids"] == expected.argmax(-1).tolist()
        assert [x.decode() if isinstance(x, bytes) else x for x in served[key]["labels"]] == [
            labels[i] for i in expected.argmax(-1)
        ]

    words, tags = exported["words"], exported["tags"]
    split = [s.split() for s in sentences]
    word_ids, _ = encode_tagged([(s, [tags[0]] * len(s)) for s in split], words, tags)
    x = pad(word_ids)
    softmax_tags = exported["models"]["tagger"].predict(x, verbose=0).argmax(-1)
    crf_tags = exported["models"]["crf"].predict_tags(x, verbose=0)
    char_ids = encode_characters(split, exported["characters"])
    longest = max(len(w) for s in char_ids for w in s)
    chars = np.zeros(x.shape + (longest,), "int32")
    for i, sentence in enumerate(char_ids):
        for j, word in enumerate(sentence):
            chars[i, j, : len(word)] = word
    char_tags = exported["models"]["chars"].predict_tags({"tokens": x, "characters": chars})
    assert len({tuple(t[:2]) for t in char_tags}) > 0
    for key, predicted in (("tagger", softmax_tags), ("crf", crf_tags), ("chars", char_tags)):
        expected = [[tags[t] for t in row[: len(s)]] for row, s in zip(predicted, split)]
        served_tags = _decode(served[key]["tags"])
        assert [row[: len(s)] for row, s in zip(served_tags, split)] == expected
        assert all(v == "" for row, s in zip(served_tags, split) for v in row[len(s) :])
        assert served[key]["lengths"] == [3, 2, 5]
    token_tags = _decode(served["tokens"]["tags"])
    assert token_tags[0][:3] == _decode(served["crf"]["tags"])[0][:3]
    assert served["tokens"]["lengths"] == [3, 2, 2]
    char_token_tags = _decode(served["char_tokens"]["tags"])
    assert char_token_tags[1][:2] == _decode(served["chars"]["tags"])[1][:2]


def test_empty_text_and_inner_padding_are_errors_not_padding(exported):
    module = tf.saved_model.load(exported["paths"]["binary"])
    with pytest.raises(tf.errors.InvalidArgumentError, match="classify: an input text has no"):
        module.signatures["classify"](texts=tf.constant(["fine", "   "]))
    tagger = tf.saved_model.load(exported["paths"]["tagger"])
    with pytest.raises(tf.errors.InvalidArgumentError, match="padding inside a sentence"):
        tagger.signatures["tag_tokens"](tokens=tf.constant([["the", "", "dog"]]))


def test_export_arguments_are_checked(exported, tmp_path):
    model = exported["models"]["binary"]
    with pytest.raises(ValueError, match="task must be one of"):
        export_saved_model(model, tmp_path / "x", "summarize", exported["vocabulary"])
    with pytest.raises(ValueError, match="2 classes; got 3 labels"):
        export_saved_model(
            model, tmp_path / "x", "classify", exported["vocabulary"], labels=["a", "b", "c"]
        )
    with pytest.raises(ValueError, match="needs labels"):
        export_saved_model(exported["models"]["tagger"], tmp_path / "y", "tag", exported["words"])


def test_vocabulary_without_unknown_token_rejects_unknown_words(tmp_path):
    keras.utils.set_random_seed(0)
    vocabulary = ["<pad>", "a", "b"]
    model = sentiment_classifier(vocab_size=3, embedding_dim=4, units=3)
    module = export_saved_model(model, tmp_path / "m", "classify", vocabulary)
    module.classify(tf.constant(["a b"]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="not in the vocabulary"):
        module.classify(tf.constant(["a c"]))


FACTORIES = {
    "lm-untied": lambda: language_model(12, cell="peephole", units=4, num_layers=2),
    "lm-tied-projection": lambda: language_model(
        12, cell="zoo_gru", units=4, embedding_dim=3, tie_embeddings=True
    ),
    "sentiment-bi": lambda: sentiment_classifier(
        vocab_size=12,
        embedding_dim=4,
        cell="coupled",
        units=3,
        bidirectional=True,
        num_layers=2,
        hidden_units=5,
        dropout=0.1,
    ),
    "sentiment-pretrained": lambda: sentiment_classifier(
        embeddings=np.random.RandomState(0).normal(size=(12, 4)).astype("float32"),
        cell="zoo_lstm",
        units=3,
        num_classes=4,
    ),
    "tagger": lambda: sequence_tagger(5, vocab_size=12, embedding_dim=4, units=3, cell="gru"),
    "tagger-crf": lambda: sequence_tagger(
        5, vocab_size=12, embedding_dim=4, units=3, cell="peephole", crf=True, num_layers=2
    ),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_keras_files_of_every_factory_load_with_safe_mode_and_give_identical_outputs(
    name, tmp_path
):
    keras.utils.set_random_seed(5)
    model = FACTORIES[name]()
    x = pad([[3, 4, 5, 6], [7, 8], [9, 10, 11]])
    expected = model.predict(x, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    actual = loaded.predict(x, verbose=0)
    for key in expected if isinstance(expected, dict) else [None]:
        e = expected[key] if key else expected
        a = actual[key] if key else actual
        np.testing.assert_array_equal(a, e)


@pytest.fixture(scope="module")
def language_export(tmp_path_factory):
    from lstm_zoo.data import Vocabulary

    keras.utils.set_random_seed(11)
    vocabulary = Vocabulary(["<pad>", "<unk>", "<eos>"] + [f"w{i}" for i in range(9)])
    model = language_model(len(vocabulary), cell="peephole", units=8, num_layers=2)
    # Sharper, varied distributions than a fresh model's near-uniform ones.
    weights = model.get_weights()
    model.set_weights([w * 4.0 for w in weights])
    path = str(tmp_path_factory.mktemp("lm") / "saved")
    export_saved_model(
        model,
        path,
        "generate",
        vocabulary,
        samplers=("greedy", "beam", "top_k"),
        num_beams=3,
        sampler_options={"top_k": {"k": 4, "temperature": 0.7}},
        end_token="<eos>",
    )
    return model, vocabulary, path


def test_generate_served_by_tensorflow_alone_equals_generate_text(language_export, tmp_path):
    from lstm_zoo.generation import generate_text

    model, vocabulary, path = language_export
    prompts = ["w1 w2 w3", "w4", "w5 zebra"]
    inputs = {"prompts": prompts, "max_length": 9, "seed": [0, 7]}
    served = serve_in_fresh_process(
        tmp_path,
        {name: (path, f"generate_{name}", inputs) for name in ("greedy", "beam", "top_k")},
    )
    top_k = {"k": 4, "temperature": 0.7}
    for name, kwargs in (("greedy", {}), ("beam", {"num_beams": 3}), ("top_k", top_k)):
        expected = generate_text(
            model,
            vocabulary,
            prompts,
            max_length=9,
            sampler=name,
            end_token="<eos>",
            seed=7,
            **kwargs,
        )
        texts = [t.decode() if isinstance(t, bytes) else t for t in served[name]["texts"]]
        assert texts == expected, name
        continuations = [
            t.decode() if isinstance(t, bytes) else t for t in served[name]["continuations"]
        ]
        for prompt, text, continuation in zip(prompts, texts, continuations):
            read = " ".join(w if w in vocabulary.index else "<unk>" for w in prompt.split())
            assert text == (read + " " + continuation).strip()


def test_generate_signature_checks_its_inputs(language_export):
    _, _, path = language_export
    generate = tf.saved_model.load(path).signatures["generate"]
    seed = tf.constant([0, 0])
    out = generate(prompts=tf.constant(["w1"]), max_length=tf.constant(4), seed=seed)
    assert out["token_ids"].shape == (1, 4)
    with pytest.raises(tf.errors.InvalidArgumentError, match="exceeds max_length"):
        generate(prompts=tf.constant(["w1 w2 w3"]), max_length=tf.constant(2), seed=seed)
    with pytest.raises(tf.errors.InvalidArgumentError, match="has no tokens"):
        generate(prompts=tf.constant([""]), max_length=tf.constant(4), seed=seed)


def test_classify_through_a_text_vectorization_layer(tmp_path):
    from lstm_zoo.data.classification import text_vectorizer

    keras.utils.set_random_seed(2)
    vectorizer = text_vectorizer(["A fine film!", "a dull film", "fine acting"])
    model = sentiment_classifier(
        vocab_size=vectorizer.vocabulary_size(), embedding_dim=4, units=3, cell="coupled"
    )
    module = export_saved_model(model, tmp_path / "m", "classify", vectorizer)
    texts = ["a FINE film.", "dull, dull acting"]
    served = tf.saved_model.load(str(tmp_path / "m")).signatures["classify"]
    expected = class_probabilities(model, vectorizer(tf.constant(texts)))
    np.testing.assert_allclose(
        served(texts=tf.constant(texts))["probabilities"], expected, atol=1e-6
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="has no tokens"):
        module.classify(tf.constant(["!!!"]))


def test_export_refuses_a_non_empty_directory_unless_overwrite(tmp_path):
    keras.utils.set_random_seed(0)
    vocabulary = ["<pad>", "<oov>", "a", "b"]
    model = sentiment_classifier(vocab_size=4, embedding_dim=4, units=3)
    target = tmp_path / "export"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match=r"export: the directory is not empty; pass overwrite"):
        export_saved_model(model, target, "classify", vocabulary)
    assert (target / "notes.txt").read_text() == "keep me"
    export_saved_model(model, target, "classify", vocabulary, overwrite=True)
    assert not (target / "notes.txt").exists()  # replaced whole, nothing stale left
    assert "classify" in tf.saved_model.load(str(target)).signatures
    assert [p.name for p in tmp_path.iterdir()] == ["export"]  # no staging directory left
    empty = tmp_path / "empty"
    empty.mkdir()
    export_saved_model(model, empty, "classify", vocabulary)  # an empty directory is fine
    with pytest.raises(ValueError, match=r"vocabulary has 5 tokens but the model's "):
        export_saved_model(model, tmp_path / "long", "classify", [*vocabulary, "c"])
