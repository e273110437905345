"""Presets: save_to_preset -> from_preset gives identical outputs; new heads keep the encoder;
a preset missing a file or with a malformed config is an error naming the file."""

import json
import shutil

import keras
import numpy as np
import pytest

from lstm_zoo.models import LanguageModel, SequenceTagger, TextClassifier
from lstm_zoo.presets import from_preset, preset_lines, save_to_preset
from lstm_zoo.presets.io import FILES

TEXTS = ["a good film", "a bad film", "good good"]


@pytest.fixture(scope="module")
def classifier_preset(tmp_path_factory):
    keras.utils.set_random_seed(7)
    model = TextClassifier.build(
        ["a", "good", "bad", "film"], ["neg", "pos"], units=4, embedding_dim=4, hidden_units=3
    )
    path = tmp_path_factory.mktemp("presets") / "tiny-classifier"
    save_to_preset(model, path, {"metrics": {"test_accuracy": 0.5}, "data_license": "none"})
    return model, path


def test_round_trip_identical(classifier_preset, tmp_path):
    model, path = classifier_preset
    assert sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file()) == sorted(FILES)
    loaded = TextClassifier.from_preset(str(path))
    np.testing.assert_array_equal(loaded.predict(TEXTS, verbose=0), model.predict(TEXTS, verbose=0))
    metadata = json.loads((path / "metadata.json").read_text())
    assert metadata["task"] == "text_classifier" and metadata["metrics"]["test_accuracy"] == 0.5
    assert metadata["size_bytes"] > 0
    save_to_preset(loaded, tmp_path / "again")  # a loaded preset saves again
    with pytest.raises(ValueError, match="not an empty directory"):
        save_to_preset(loaded, tmp_path / "again")


def test_new_head_keeps_the_encoder(classifier_preset):
    model, path = classifier_preset
    three = from_preset(path, num_classes=3, dropout=0.2)
    assert three.labels == ["0", "1", "2"] and three.backbone.output_shape[-1] == 3
    for name in ("token_embedding", "encoder_0", "hidden"):
        for new, old in zip(
            three.backbone.get_layer(name).get_weights(),
            model.backbone.get_layer(name).get_weights(),
        ):
            np.testing.assert_array_equal(new, old)
    relabelled = from_preset(path, labels=["bad", "good"])
    assert relabelled.predict_labels(["good"])[0] in ("bad", "good")


def test_override_errors(classifier_preset):
    _, path = classifier_preset
    with pytest.raises(ValueError, match="unknown override 'colour'"):
        from_preset(path, colour=1)
    with pytest.raises(ValueError, match="change the shape of layer 'encoder_0'"):
        from_preset(path, units=5)
    with pytest.raises(ValueError, match="a TextClassifier preset, not a LanguageModel"):
        LanguageModel.from_preset(path)
    with pytest.raises(ValueError, match="neither a bundled preset"):
        from_preset("no-such-preset")


@pytest.mark.parametrize("missing", FILES)
def test_missing_file_is_named(classifier_preset, tmp_path, missing):
    _, path = classifier_preset
    copy = shutil.copytree(path, tmp_path / "copy")
    (copy / missing).unlink()
    with pytest.raises(ValueError, match=f"{missing}: missing"):
        from_preset(copy)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: "{not json", "config.json: malformed JSON"),
        (lambda c: {**c, "class_name": "Nope"}, "config.json: malformed .class_name 'Nope'"),
        (
            lambda c: {**c, "backbone": {"factory": "language_model", "arguments": {}}},
            "config.json: malformed .backbone.factory",
        ),
        (
            lambda c: {**c, "preprocessor": {"lowercase": "yes", "level": "word"}},
            "config.json: malformed .preprocessor.lowercase",
        ),
        (
            lambda c: {**c, "backbone": {**c["backbone"], "arguments": {"units": -1}}},
            "config.json: malformed",
        ),
    ],
)
def test_malformed_config_is_named(classifier_preset, tmp_path, edit, message):
    _, path = classifier_preset
    copy = shutil.copytree(path, tmp_path / "copy")
    config = edit(json.loads((copy / "config.json").read_text()))
    (copy / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    with pytest.raises(ValueError, match=message):
        from_preset(copy)


def test_corrupt_weights_and_vocabulary_are_named(classifier_preset, tmp_path):
    _, path = classifier_preset
    copy = shutil.copytree(path, tmp_path / "copy")
    (copy / "model.weights.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="model.weights.h5: cannot be loaded"):
        from_preset(copy)
    shutil.copy(path / "model.weights.h5", copy / "model.weights.h5")
    (copy / "assets/tokenizer/vocabulary.txt").write_text("<pad>\n<unk>\na\n")
    with pytest.raises(ValueError, match="vocabulary.txt: token_embedding|token_embedding has"):
        from_preset(copy)


def test_tagger_new_tag_set_and_lm_presets(tmp_path):
    keras.utils.set_random_seed(8)
    tagger = SequenceTagger.build(["john", "runs"], ["B-PER", "O"], units=3, embedding_dim=3)
    save_to_preset(tagger, tmp_path / "tagger")
    loaded = from_preset(tmp_path / "tagger")
    assert loaded.predict_tags([["john", "runs"]]) == tagger.predict_tags([["john", "runs"]])
    pos = SequenceTagger.from_preset(tmp_path / "tagger", tags=["NOUN", "VERB", "X"])
    np.testing.assert_array_equal(
        pos.backbone.get_layer("bidirectional_0").get_weights()[0],
        tagger.backbone.get_layer("bidirectional_0").get_weights()[0],
    )
    assert pos.scheme is None and len(pos.tags) == 3
    lm = LanguageModel.build(list("ab \n"), level="char", units=3, num_layers=1)
    save_to_preset(lm, tmp_path / "lm")
    assert from_preset(tmp_path / "lm").generate(["ab"], 5) == lm.generate(["ab"], 5)


def test_preset_lines_name_first():
    for line in preset_lines():
        name, task = line.split("  ")[:2]
        assert task in ("text_classifier", "sequence_tagger", "language_model"), line
        assert line.endswith("MB")


def test_cli_lists_presets(capsys):
    from lstm_zoo.cli import main

    assert main(["presets"]) == 0
    assert capsys.readouterr().out.splitlines() == preset_lines()


def test_float16_weights_halve_the_file_and_load_within_half_a_step(classifier_preset, tmp_path):
    model, path = classifier_preset
    half = save_to_preset(model, tmp_path / "half", weights_dtype="float16")
    assert json.loads((half / "metadata.json").read_text())["weights_dtype"] == "float16"
    loaded = from_preset(half)
    for new, old in zip(loaded.backbone.get_weights(), model.backbone.get_weights()):
        assert new.dtype == old.dtype == np.float32
        np.testing.assert_array_equal(new, old.astype(np.float16).astype(np.float32))
    assert _array_bytes(half / "model.weights.h5") * 2 == _array_bytes(path / "model.weights.h5")
    np.testing.assert_allclose(
        loaded.predict(TEXTS, verbose=0), model.predict(TEXTS, verbose=0), atol=2e-3
    )
    with pytest.raises(ValueError, match="weights_dtype must be one of"):
        save_to_preset(model, tmp_path / "bf", weights_dtype="bfloat16")
    by_method = model.save_to_preset(tmp_path / "method", weights_dtype="float16")
    assert (by_method / "model.weights.h5").read_bytes() == (half / "model.weights.h5").read_bytes()


def _array_bytes(path):
    import h5py

    sizes = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda _, item: sizes.append(getattr(item, "nbytes", 0)))
    return sum(sizes)
