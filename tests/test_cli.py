"""The lstm-zoo command line: every command end to end on tiny files the tests write."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from matplotlib.image import imread

from lstm_zoo import cli
from tests.helpers import zoo_cell_names

SST_LINES = ["1 a fine and moving film", "0 a dull , tired film", "1 fine acting", "0 dull"] * 6
CONLLU = """# sent_id = 1
1\tthe\tthe\tDET\tDT\t_\t2\tdet\t_\t_
2\tdog\tdog\tNOUN\tNN\t_\t3\tnsubj\t_\t_
3\truns\trun\tVERB\tVBZ\t_\t0\troot\t_\t_

1-2\tcan't\t_\t_\t_\t_\t_\t_\t_\t_
1\tca\tcan\tAUX\tMD\t_\t3\taux\t_\t_
2\tn't\tnot\tPART\tRB\t_\t3\tadvmod\t_\t_
3\trun\trun\tVERB\tVB\t_\t0\troot\t_\t_

"""


def run_cli(*argv):
    """(exit status, stdout, stderr) of `python -m lstm_zoo.cli ARGV` in a subprocess."""
    result = subprocess.run(
        [sys.executable, "-m", "lstm_zoo.cli", *map(str, argv)], capture_output=True, text=True
    )
    return result.returncode, result.stdout, result.stderr


def test_cells_lists_every_registered_layer(capsys):
    assert cli.main(["cells"]) == 0
    out = capsys.readouterr().out
    for name in ("lstm", "gru", *zoo_cell_names()):
        assert f"\n{name} " in out
    assert "keras.src.layers.rnn.lstm.LSTM" in out and "lstm_zoo.layers.recurrent.LSTM" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["demo", "--data", "/no/such/file.txt"],
            "lstm-zoo demo: error: /no/such/file.txt: no such",
        ),
        (
            ["train", "--task", "sentiment", "--train", "/no/file"],
            "lstm-zoo train: error: train_path (--train) /no/file: no such file",
        ),
        (["evaluate", "/tmp", "/no/data"], "lstm-zoo evaluate: error: DATA /no/data: no such file"),
        (["generate", "/no/run"], "lstm-zoo generate: error: /no/run: neither a bundled preset ("),
        (["train", "--task", "lm"], "lstm-zoo train: error: give training data"),
    ],
)
def test_bad_arguments_give_one_clear_line_and_exit_2(argv, message):
    status, _, stderr = run_cli(*argv)
    assert status == 2, stderr
    assert message in stderr
    assert "Traceback" not in stderr
    assert len([line for line in stderr.splitlines() if line.startswith("lstm-zoo")]) == 1


def test_argparse_rejects_unknown_choices_with_usage():
    status, _, stderr = run_cli("train", "--task", "summarize")
    assert status == 2 and "invalid choice: 'summarize'" in stderr and "Traceback" not in stderr


def _assert_run_directory(run, epochs):
    for name in ("model.keras", "vocabulary.json", "run.json", "history.csv"):
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        f"epoch-{e:03d}.keras" for e in range(1, epochs + 1)
    ]
    assert any((run / "logs").rglob("events.out.tfevents.*")), "no TensorBoard event file"
    image = imread(run / "training_curves.png")
    assert image.shape[0] > 200 and image.std() > 0.05  # a real plot, not a blank page


def test_sentiment_train_evaluate_export_inspect(tmp_path, capsys):
    train = tmp_path / "train.txt"
    train.write_text("\n".join(SST_LINES) + "\n")
    run = tmp_path / "run"
    argv = ["train", "--task", "sentiment", "--train", train, "--valid", train, "--test", train]
    argv += ["--cell", "coupled", "--units", "8", "--epochs", "2", "--output", run]
    assert cli.main([str(a) for a in argv]) == 0
    assert "test: " in capsys.readouterr().out
    _assert_run_directory(run, 2)
    description = json.loads((run / "run.json").read_text())
    assert description["task"] == "sentiment" and description["labels"] == ["0", "1"]
    assert "test_accuracy" in description["metrics"]  # as `lstm-zoo evaluate` names it

    assert cli.main(["evaluate", str(run), str(train)]) == 0  # the preset path: one format
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("accuracy ") and ", loss " in printed
    accuracy = float(printed.split(",")[0].split()[1])
    assert accuracy == pytest.approx(description["metrics"]["test_accuracy"], abs=1e-4)

    exported = tmp_path / "exported"
    assert cli.main(["export", str(run), str(exported)]) == 0
    served = tf.saved_model.load(str(exported)).signatures["classify"](
        texts=tf.constant(["a fine film", "dull"])
    )
    assert served["probabilities"].shape == (2, 2)
    # The run directory loads as the task model the commands use, in Python too.
    from lstm_zoo.models import LanguageModel, TextClassifier

    classifier = TextClassifier.from_preset(run)
    np.testing.assert_allclose(
        classifier.probabilities(["a fine film", "dull"]), served["probabilities"], atol=1e-5
    )
    with pytest.raises(ValueError, match="a TextClassifier run, not a LanguageModel"):
        LanguageModel.from_preset(run)
    with pytest.raises(ValueError, match="goes on a preset, not on a run"):
        TextClassifier.from_preset(run, num_classes=3)

    png = tmp_path / "gates.png"
    assert cli.main(["inspect", str(run), "--text", "a fine film", "--output", str(png)]) == 0
    assert imread(png).std() > 0.05


def test_tagger_train_and_export_serves_tags(tmp_path):
    conllu = tmp_path / "tiny.conllu"
    conllu.write_text(CONLLU * 8)
    run, exported = tmp_path / "run", tmp_path / "exported"
    argv = ["train", "--task", "tagger", "--train", conllu, "--valid", conllu, "--units", "8"]
    argv += ["--char-features", "--crf", "--test", conllu]
    assert cli.main([str(a) for a in argv + ["--epochs", "1", "--output", run]]) == 0
    description = json.loads((run / "run.json").read_text())
    assert 0.0 <= description["metrics"]["test_accuracy"] <= 1.0
    assert description["characters"][:2] == ["<pad>", "<unk>"] and "d" in description["characters"]
    assert json.loads((run / "run.json").read_text())["labels"] == [
        "AUX",
        "DET",
        "NOUN",
        "PART",
        "VERB",
    ]
    assert cli.main(["export", str(run), str(exported)]) == 0
    tags = tf.saved_model.load(str(exported)).signatures["tag"](texts=tf.constant(["the dog"]))
    assert tags["tags"].shape == (1, 2) and tags["lengths"].numpy().tolist() == [2]


def test_language_model_train_generate_export(tmp_path, capsys):
    text = tmp_path / "corpus.txt"
    text.write_text("the cat sat on the mat .\nthe dog sat on the log .\n" * 40)
    run = tmp_path / "run"
    argv = ["train", "--task", "lm", "--train", text, "--valid", text, "--cell", "zoo_gru"]
    argv += ["--units", "16", "--layers", "1", "--batch-size", "4", "--num-steps", "8"]
    assert cli.main([str(a) for a in argv + ["--epochs", "1", "--output", run]]) == 0
    _assert_run_directory(run, 1)
    capsys.readouterr()
    argv = ["generate", str(run), "--prompt", "the cat", "--prompt", "a", "--max-length", "6"]
    assert cli.main(argv + ["--sampler", "beam", "--num-beams", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("the cat") and lines[1].startswith("<unk>")
    from lstm_zoo.models import LanguageModel

    model = LanguageModel.from_preset(run)
    assert model.generate(["the cat", "a"], 6, "beam", num_beams=3) == lines
    # evaluate scores the file as training validated it: the run's 4 x 8 windows, state carried
    assert cli.main(["evaluate", str(run), str(text)]) == 0
    printed = capsys.readouterr().out.strip().replace(",", "").split()
    validated = json.loads((run / "run.json").read_text())["metrics"]["val_perplexity"]
    assert printed[0] == "perplexity" and float(printed[1]) == pytest.approx(validated, rel=1e-4)
    exported = tmp_path / "exported"
    assert cli.main(["export", str(run), str(exported), "--samplers", "greedy,beam"]) == 0
    signatures = tf.saved_model.load(str(exported)).signatures
    assert {"generate", "generate_greedy", "generate_beam"} <= set(signatures)


def test_bench_prints_ratios_to_keras_lstm(capsys):
    argv = ["bench", "--layers", "coupled", "--batch", "2", "--steps", "3", "--inputs", "4"]
    assert cli.main(argv + ["--units", "4", "--timed", "1"]) == 0
    out = capsys.readouterr().out
    assert "| lstm | no |" in out and "| coupled | no |" in out and "1.00x" in out
