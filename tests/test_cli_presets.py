"""lstm-zoo on presets (evaluate, train --from-preset, export, generate) and conlleval span
metrics of tagger run directories, on tiny presets and files the tests write."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from lstm_zoo import cli
from lstm_zoo.models import LanguageModel, SequenceTagger, TextClassifier
from lstm_zoo.presets import from_preset, save_to_preset

WORDS = ["<pad>", "<unk>", "a", "good", "bad", "film", "john", "mary", "lives", "in", "paris"]
WORDS += ["new", "york", "."]
TAGS = ["B-LOC", "B-PER", "I-LOC", "O"]
CHARACTERS = ["<pad>", "<unk>", *"abc \n"]
NER = (
    "-DOCSTART- -X- O\n\n"
    + "John NNP B-PER\nlives VBZ O\nin IN O\nNew NNP B-LOC\nYork NNP I-LOC\n. . O\n\n"
    + "Mary NNP B-PER\nin IN O\nParis NNP B-LOC\n\n"
) * 2
NEW_TAGS = "John B-PER\nlives O\nin O\nNew B-ORG\nYork I-ORG\n. O\n\n" * 3
SST = "1 a good film\n0\ta bad film\n1 good\n0 bad\n"


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """Tiny presets (classifier, tagger, character LM) and data files, by name."""
    root = tmp_path_factory.mktemp("presets")
    paths = {"root": root}
    lowercase = {"lowercase": True}
    models = {
        "classifier": TextClassifier.build(WORDS, ["neg", "pos"], units=2, embedding_dim=2),
        "tagger": SequenceTagger.build(WORDS, TAGS, units=2, embedding_dim=2, **lowercase),
        "lm": LanguageModel.build(CHARACTERS, level="char", units=2, num_layers=1, embedding_dim=2),
    }
    for name, model in models.items():
        paths[name] = save_to_preset(model, root / name)
    files = {
        "sst": SST,
        "labels3": "x a good film\ny a bad film\nz good\n" * 2,
        "bad_label": "1 a good film\n7 a bad film\n",
        "no_text": "1 a good film\n0   \n",
        "ner": NER,
        "new_tags": NEW_TAGS,
        "text": "abc abc cab\nba ca\n" * 6,
    }
    for name, text in files.items():
        (root / f"{name}.txt").write_text(text)
        paths[name] = root / f"{name}.txt"
    return paths


def main(*argv):
    return cli.main([str(a) for a in argv])


def test_evaluate_classifier_preset_prints_accuracy_and_loss(place, capsys):
    assert main("evaluate", place["classifier"], place["sst"]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.startswith("accuracy ") and ", loss " in line
    accuracy = float(line.split(",")[0].split()[1])
    model = from_preset(place["classifier"])
    expected = np.mean(
        np.array(model.predict_labels(["a good film", "a bad film", "good", "bad"]))
        == np.array(["pos", "neg", "pos", "neg"])
    )
    assert accuracy == pytest.approx(expected, abs=1e-4)  # ids 0/1 read as neg/pos


def test_evaluate_tagger_preset_prints_token_accuracy_and_span_table(place, capsys):
    assert main("evaluate", place["tagger"], place["ner"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("accuracy ") and "span_f1" in lines[0]
    assert lines[1].split()[:4] == ["spans", "(conlleval)", "precision", "recall"]
    assert [line.split()[0] for line in lines[2:]] == ["overall", "LOC", "PER"]
    # The printed figures are conlleval's on the model's own predictions.
    from lstm_zoo.models.spans import span_scores
    from lstm_zoo.preset_commands import tagged_sentences

    words, truth = tagged_sentences(place["ner"])
    guess = from_preset(place["tagger"]).predict_tags(words)
    scores = span_scores(truth, guess, "bio")
    overall = [float(v) for v in lines[2].split()[1:]]
    assert overall == pytest.approx([scores[m] for m in ("precision", "recall", "f1")], abs=1e-4)


def test_evaluate_char_lm_preset_prints_perplexity_and_bits_per_char(place, capsys):
    assert main("evaluate", place["lm"], place["text"]) == 0
    fields = capsys.readouterr().out.strip().replace(",", "").split()
    values = dict(zip(fields[::2], map(float, fields[1::2])))
    assert values["bits_per_char"] == pytest.approx(math.log2(values["perplexity"]), abs=1e-3)
    assert 1.0 < values["perplexity"] < 10.0  # 7 symbols, untrained: about uniform


def test_evaluate_word_lm_preset_scores_one_stream_with_state_carried(tmp_path, capsys):
    words = ["<pad>", "<unk>", "<eos>", "the", "cat", "sat"]
    model = LanguageModel.build(words, units=2, num_layers=1, embedding_dim=2, end_token="<eos>")
    preset = save_to_preset(model, tmp_path / "word_lm")
    data = tmp_path / "lines.txt"
    data.write_text("the cat sat\n\nthe dog sat\n" * 30)  # 240 tokens with <eos>: 11 rows
    assert main("evaluate", preset, data) == 0
    line = capsys.readouterr().out.strip()
    # PTB's reading: every line's words then <eos>, blank lines skipped, "dog" unknown.
    stream = [3, 4, 5, 2, 3, 1, 5, 2] * 30
    expected = model.stream_perplexity(stream, 240 // 21, 20)
    assert line == f"perplexity {expected:.4f}, loss {math.log(expected):.4f}"


def test_evaluate_word_lm_preset_on_a_file_too_short_for_one_window(tmp_path, capsys):
    words = ["<pad>", "<unk>", "<eos>", "the", "cat"]
    model = LanguageModel.build(words, units=2, num_layers=1, embedding_dim=2, end_token="<eos>")
    preset = save_to_preset(model, tmp_path / "word_lm")
    data = tmp_path / "short.txt"
    data.write_text("the cat\n" * 6)  # 18 tokens: no window of 20 + 1
    assert main("evaluate", preset, data) == 2
    assert "18 tokens make no window of 20" in capsys.readouterr().err


def test_evaluate_bundled_sst2_preset(tmp_path, capsys):
    data = tmp_path / "few.txt"
    data.write_text(
        "1 a gorgeous , witty , seductive movie .\n0 the film is a dull , tedious mess .\n"
        "1 one of the best films of the year .\n0 boring and badly acted .\n"
    )
    assert main("evaluate", "sst2-bilstm", data) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert float(line.split(",")[0].split()[1]) >= 0.75  # a trained model


@pytest.mark.parametrize(
    "file, message",
    [
        ("bad_label", "bad_label.txt:2: unknown label '7'"),
        ("no_text", "no_text.txt:2: label '0' has no text"),
    ],
)
def test_bad_classification_files_name_file_and_line(place, capsys, file, message):
    assert main("evaluate", place["classifier"], place[file]) == 2
    assert message in capsys.readouterr().err


def test_tags_outside_the_preset_name_file_and_sentence(place, capsys):
    assert main("evaluate", place["tagger"], place["new_tags"]) == 2
    err = capsys.readouterr().err
    assert "new_tags.txt: sentence 1" in err and "'B-ORG'" in err


def test_finetune_classifier_with_new_labels_writes_a_preset(place, capsys):
    output = place["root"] / "finetuned_classifier"
    argv = ["train", "--from-preset", place["classifier"], "--train", place["labels3"]]
    argv += ["--valid", place["labels3"], "--test", place["labels3"], "--epochs", "2"]
    argv += ["--batch-size", "4"]
    assert main(*argv, "--learning-rate", "0.01", "--output", output) == 0
    out = capsys.readouterr().out
    assert "new head for 3 labels: x, y, z" in out and "val_loss" in out
    assert "\ntest: accuracy " in out
    model = from_preset(output)
    assert model.labels == ["x", "y", "z"]
    base = from_preset(place["classifier"])  # the encoder started from the preset's
    assert model.backbone.get_layer("token_embedding").get_weights()[0].shape == (
        base.backbone.get_layer("token_embedding").get_weights()[0].shape
    )
    metadata = json.loads((output / "metadata.json").read_text())
    assert metadata["base_preset"] == str(place["classifier"])
    assert metadata["settings"]["new_head"] is True and len(metadata["history"]["loss"]) == 2
    assert set(metadata["metrics"]) >= {"valid_accuracy", "test_accuracy", "test_loss"}
    assert main("evaluate", output, place["labels3"]) == 0
    assert capsys.readouterr().out.startswith("accuracy ")


def test_finetune_tagger_validates_spans_each_epoch_and_keeps_the_encoder(place, capsys):
    output = place["root"] / "finetuned_tagger"
    argv = ["train", "--from-preset", place["tagger"], "--train", place["ner"]]
    argv += ["--valid", place["ner"], "--epochs", "2", "--output", output]
    assert main(*argv) == 0
    out = capsys.readouterr().out
    assert out.count("val_span_f1: ") == 2 and "val_span_f1_PER" in out  # each epoch
    assert out.count("val_spans (conlleval)") == 2 and out.count("\n  PER ") == 3  # + valid:
    tuned = from_preset(output)
    assert tuned.tags == TAGS  # the preset's tags cover the file's: the head is kept
    assert not json.loads((output / "metadata.json").read_text())["settings"]["new_head"]
    # An existing output is kept unless --overwrite.
    assert main(*argv) == 2
    assert "--overwrite" in capsys.readouterr().err


def test_finetune_tagger_new_tag_set_builds_a_new_head(place, capsys):
    output = place["root"] / "new_tags"
    argv = ["train", "--from-preset", place["tagger"], "--train", place["new_tags"]]
    assert main(*argv, "--epochs", "1", "--output", output) == 0
    assert "new head for 4 tags: B-ORG, B-PER, I-ORG, O" in capsys.readouterr().out
    tuned, base = from_preset(output), from_preset(place["tagger"])
    assert tuned.tags == ["B-ORG", "B-PER", "I-ORG", "O"]
    assert tuned.backbone.get_layer("token_embedding").get_weights()[0].shape == (len(WORDS), 2)
    assert base.tags == TAGS


@pytest.mark.parametrize(
    "extra, culprits",
    [
        (["--cell", "gru", "--units", "8"], ["--from-preset", "--cell", "--units"]),
        (["--crf", "--char-features"], ["--crf", "--char-features"]),
        (["--lowercase", "--level", "char"], ["--level", "--lowercase"]),
        (["--task", "lm"], ["--task lm", "--task tagger"]),
        (["--num-steps", "5"], ["--num-steps"]),
    ],
)
def test_conflicting_flags_name_the_flags(place, capsys, extra, culprits):
    argv = ["train", "--from-preset", place["tagger"], "--train", place["ner"], *extra]
    assert main(*argv, "--output", place["root"] / "never") == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    for culprit in culprits:
        assert culprit in err, err
    assert not (place["root"] / "never").exists()


def test_unknown_preset_lists_the_bundled_ones(capsys):
    assert main("train", "--from-preset", "no-such-preset", "--train", __file__) == 2
    assert "sst2-bilstm" in capsys.readouterr().err


def test_from_preset_on_a_run_directory_says_it_is_a_run(place, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "--task", "sentiment", "--train", place["sst"], "--units", "2"]
    assert main(*argv, "--epochs", "1", "--output", run) == 0
    capsys.readouterr()
    argv = ["train", "--from-preset", run, "--train", place["sst"], "--output", tmp_path / "x"]
    assert main(*argv) == 2
    assert "is a run directory of lstm-zoo train, not a preset" in capsys.readouterr().err


def test_char_lm_preset_finetune_generate_export(place, capsys):
    output = place["root"] / "finetuned_lm"
    argv = ["train", "--from-preset", place["lm"], "--train", place["text"], "--epochs", "1"]
    argv += ["--num-steps", "8", "--batch-size", "4", "--valid", place["text"], "--output", output]
    assert main(*argv) == 0
    assert "valid: perplexity" in capsys.readouterr().out
    assert main("generate", output, "--prompt", "ab", "--max-length", "6") == 0
    text = capsys.readouterr().out.splitlines()[-1]
    assert text.startswith("ab") and len(text) <= 6
    exported = place["root"] / "exported_lm"
    assert main("export", output, exported, "--samplers", "greedy") == 0
    signature = tf.saved_model.load(str(exported)).signatures["generate"]
    assert signature is not None
    assert main("generate", place["classifier"], "--prompt", "a") == 2
    assert "generate needs a language model" in capsys.readouterr().err


def test_export_tagger_preset_serves_tags(place):
    exported = place["root"] / "exported_tagger"
    assert main("export", place["tagger"], exported) == 0
    tags = tf.saved_model.load(str(exported)).signatures["tag"](texts=tf.constant(["John runs"]))
    assert tags["tags"].shape == (1, 2)


def test_tagger_run_on_chunk_tags_prints_spans_in_train_and_evaluate(place, tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "--task", "tagger", "--train", place["ner"], "--valid", place["ner"]]
    argv += ["--crf", "--char-features", "--units", "2", "--epochs", "1", "--output", run]
    assert main(*argv) == 0
    out = capsys.readouterr().out
    # Each epoch: token accuracy and overall spans in the progress line, the table after it.
    assert "val_accuracy: " in out and "val_span_f1: " in out
    assert "val_spans (conlleval)" in out and "\n  PER " in out and "\n  LOC " in out
    history = (run / "history.csv").read_text().splitlines()[0].split(",")
    assert {"val_accuracy", "val_span_precision", "val_span_recall", "val_span_f1"} <= set(history)
    assert main("evaluate", run, place["ner"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("accuracy ") and "span_f1" in lines[0]
    assert [line.split()[0] for line in lines[2:]] == ["overall", "LOC", "PER"]
