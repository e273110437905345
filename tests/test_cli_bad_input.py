"""A catalogue of mistakes a user makes on the command line: each exits with status 2 and one
line `lstm-zoo COMMAND: error: ...` that names the culprit (argument, file or field), never a
traceback and never a silent default."""

import json
import os
import zipfile

import keras
import pytest

from lstm_zoo import cli
from lstm_zoo.runs import Run, save_run

SST = "1 a fine film\n0 a dull film\n" * 4
CONLLU = "1\tthe\tthe\tDET\t_\t_\t2\tdet\t_\t_\n2\tdog\tdog\tNOUN\t_\t_\t0\troot\t_\t_\n\n"


@pytest.fixture(scope="module")
def place(tmp_path_factory):
    """{name: path} of the files and directories the cases refer to as {name}."""
    root = tmp_path_factory.mktemp("bad_input")
    paths = {"root": root}

    def write(name, text):
        (root / name).write_text(text)
        paths[name] = root / name

    write("sst", SST)
    write("conllu", CONLLU)
    write("file", "not a directory\n")
    (root / "folder").mkdir()
    paths["folder"] = root / "folder"
    full = root / "full"
    full.mkdir()
    (full / "something.txt").write_text("old results\n")
    paths["full"] = full

    from lstm_zoo.models import sentiment_classifier

    model = sentiment_classifier(vocab_size=6, units=2, embedding_dim=2)
    run = Run("sentiment", ["<pad>", "<oov>", "a", "fine", "dull", "film"], labels=["0", "1"])
    paths["run"] = save_run(root / "run", run, model)

    def broken(name, run_json=None, vocabulary=None, model_bytes=None):
        directory = save_run(root / name, run)
        if run_json is not None:
            (directory / "run.json").write_text(run_json)
        if vocabulary is not None:
            (directory / "vocabulary.json").write_text(vocabulary)
        if model_bytes is not None:
            (directory / "model.keras").write_bytes(model_bytes)
        else:
            model.save(directory / "model.keras")
        paths[name] = directory

    broken("run_bad_json", run_json="{ not json")
    broken("run_list", run_json="[1, 2, 3]")
    broken("run_unknown_field", run_json=json.dumps({"task": "sentiment", "colour": "red"}))
    broken("run_no_task", run_json=json.dumps({"labels": []}))
    broken("run_bad_task", run_json=json.dumps({"task": "translate"}))
    broken("run_labels_type", run_json=json.dumps({"task": "sentiment", "labels": "0 1"}))
    broken("run_bad_vocabulary", vocabulary=json.dumps({"a": 1}))
    broken("run_short_vocabulary", vocabulary=json.dumps(["<pad>"]))
    broken("run_binary_json", run_json="")
    (paths["run_binary_json"] / "run.json").write_bytes(b"\xff\xfe\x00garbage")
    broken("run_bad_model", model_bytes=b"PK\x03\x04 this is not a keras file")
    no_model = save_run(root / "run_no_model", run)
    paths["run_no_model"] = no_model
    zipped = root / "run_zip_model"
    save_run(zipped, run)
    with zipfile.ZipFile(zipped / "model.keras", "w") as archive:
        archive.writestr("config.json", "{}")
    paths["run_zip_model"] = zipped
    return paths


TRAIN = ["train", "--task", "sentiment", "--train", "{sst}"]
TAG = ["train", "--task", "tagger", "--train", "{conllu}"]
LM = ["train", "--task", "lm", "--train", "{sst}"]
GEN = ["generate", "{run}"]
EXPORT = ["export", "{run}", "{root}/exported"]

CASES = {
    # train: numbers out of range (none becomes a default silently)
    "units 0": (TRAIN + ["--units", "0"], "--units"),
    "units negative": (TRAIN + ["--units", "-3"], "--units"),
    "units not a number": (TRAIN + ["--units", "many"], "--units"),
    "units huge": (TRAIN + ["--units", "10000000"], "--units"),
    "epochs 0": (TRAIN + ["--epochs", "0"], "--epochs"),
    "epochs -1": (TRAIN + ["--epochs", "-1"], "--epochs"),
    "batch size 0": (TRAIN + ["--batch-size", "0"], "--batch-size"),
    "layers 0": (TRAIN + ["--layers", "0"], "--layers"),
    "num steps 0": (LM + ["--num-steps", "0"], "--num-steps"),
    "learning rate -1": (TRAIN + ["--learning-rate", "-1"], "--learning-rate"),
    "learning rate 0": (TRAIN + ["--learning-rate", "0"], "--learning-rate"),
    "learning rate nan": (TRAIN + ["--learning-rate", "nan"], "--learning-rate"),
    "learning rate inf": (TRAIN + ["--learning-rate", "inf"], "--learning-rate"),
    "max vocabulary 1": (TRAIN + ["--max-vocabulary", "1"], "--max-vocabulary"),
    "max vocabulary 2": (LM + ["--max-vocabulary", "2"], "--max-vocabulary"),
    "seed negative": (TRAIN + ["--seed", "-1"], "--seed"),
    "seed too large": (TRAIN + ["--seed", str(2**40)], "--seed"),
    "backup every 0": (TRAIN + ["--backup-every", "0"], "--backup-every"),
    # train: names and choices
    "unknown task": (["train", "--task", "summarize", "--train", "{sst}"], "--task"),
    "no task": (["train", "--train", "{sst}"], "--task"),
    "unknown cell": (TRAIN + ["--cell", "transformer"], "--cell"),
    "unknown strategy": (TRAIN + ["--strategy", "tpu"], "--strategy"),
    "unknown lm preset": (LM + ["--preset", "ptb-huge"], "--preset"),
    "unknown sentiment preset": (TRAIN + ["--preset", "ptb-small"], "--preset"),
    "unknown level": (LM + ["--level", "byte"], "--level"),
    # train: options that do not apply to the task
    "crf on sentiment": (TRAIN + ["--crf"], "--crf"),
    "char features on lm": (LM + ["--char-features"], "--char-features"),
    "bidirectional on tagger": (TAG + ["--bidirectional"], "--bidirectional"),
    "num steps on sentiment": (TRAIN + ["--num-steps", "5"], "--num-steps"),
    "char level on sentiment": (TRAIN + ["--level", "char"], "--level"),
    "preset on tagger": (TAG + ["--preset", "ptb-small"], "--preset"),
    "lowercase on lm": (LM + ["--lowercase"], "--lowercase"),
    "embeddings on lm": (LM + ["--embeddings", "{sst}"], "--embeddings"),
    "tfds on lm": (["train", "--task", "lm", "--tfds", "imdb_reviews"], "--tfds"),
    # train: data and output
    "no training data": (["train", "--task", "sentiment"], "--train"),
    "train and tfds": (TRAIN + ["--tfds", "imdb_reviews"], "--tfds"),
    "data dir without tfds": (TRAIN + ["--data-dir", "{folder}"], "--data-dir"),
    "missing train file": (
        ["train", "--task", "sentiment", "--train", "/no/train.txt"],
        "/no/train.txt",
    ),
    "train is a directory": (["train", "--task", "sentiment", "--train", "{folder}"], "not a file"),
    "missing valid file": (TRAIN + ["--valid", "/no/valid.txt"], "/no/valid.txt"),
    "missing test file": (TRAIN + ["--test", "/no/test.txt"], "/no/test.txt"),
    "missing vectors": (TRAIN + ["--embeddings", "/no/glove.txt"], "--embeddings"),
    "output not empty": (TRAIN + ["--output", "{full}"], "--overwrite"),
    "output is a file": (TRAIN + ["--output", "{file}"], "--output"),
    "multi-worker without TF_CONFIG": (TRAIN + ["--strategy", "multi-worker"], "TF_CONFIG"),
    # run directories
    "run missing": (["evaluate", "/no/run", "{sst}"], "/no/run"),
    "run is a file": (["evaluate", "{file}", "{sst}"], "not a directory"),
    "run is an empty directory": (["evaluate", "{folder}", "{sst}"], "no run.json"),
    "run without model": (["evaluate", "{run_no_model}", "{sst}"], "no model.keras"),
    "run.json not JSON": (["evaluate", "{run_bad_json}", "{sst}"], "run.json"),
    "run.json a list": (["evaluate", "{run_list}", "{sst}"], "run.json"),
    "run.json unknown field": (["evaluate", "{run_unknown_field}", "{sst}"], "colour"),
    "run.json without task": (["evaluate", "{run_no_task}", "{sst}"], "no task"),
    "run.json unknown task": (["evaluate", "{run_bad_task}", "{sst}"], "translate"),
    "run.json labels not a list": (["evaluate", "{run_labels_type}", "{sst}"], "labels"),
    "run.json not text": (["evaluate", "{run_binary_json}", "{sst}"], "run.json"),
    "vocabulary not a list": (["evaluate", "{run_bad_vocabulary}", "{sst}"], "vocabulary"),
    "vocabulary too short": (["evaluate", "{run_short_vocabulary}", "{sst}"], "vocabulary"),
    "model.keras corrupt": (["evaluate", "{run_bad_model}", "{sst}"], "model.keras"),
    "model.keras wrong zip": (["evaluate", "{run_zip_model}", "{sst}"], "model.keras"),
    "evaluate data missing": (["evaluate", "{run}", "/no/data.txt"], "/no/data.txt"),
    "evaluate data is a directory": (["evaluate", "{run}", "{folder}"], "not a file"),
    # generate
    "generate a sentiment run": (GEN, "language model"),
    "max length 0": (GEN + ["--max-length", "0"], "--max-length"),
    "top p 0": (GEN + ["--p", "0"], "--p"),
    "top p above 1": (GEN + ["--p", "1.5"], "--p"),
    "temperature 0": (GEN + ["--temperature", "0"], "--temperature"),
    "temperature negative": (GEN + ["--temperature", "-2"], "--temperature"),
    "top k 0": (GEN + ["--k", "0"], "--k"),
    "beams 0": (GEN + ["--num-beams", "0"], "--num-beams"),
    "unknown sampler": (GEN + ["--sampler", "nucleus"], "--sampler"),
    "generate seed negative": (GEN + ["--seed", "-5"], "--seed"),
    # export
    "export into a non-empty directory": (["export", "{run}", "{full}"], "--overwrite"),
    "export onto a file": (["export", "{run}", "{file}"], "not a directory"),
    "export unknown sampler": (EXPORT + ["--samplers", "greedy,nucleus"], "--samplers"),
    "export unknown format": (EXPORT + ["--format", "onnx"], "--format"),
    "litert without length": (EXPORT + ["--format", "litert"], "--sequence-length"),
    "litert length 0": (
        EXPORT + ["--format", "litert", "--sequence-length", "0"],
        "--sequence-length",
    ),
    "litert batch 0": (EXPORT + ["--format", "litert", "--batch-size", "0"], "--batch-size"),
    "litert not .tflite": (EXPORT + ["--format", "litert", "--sequence-length", "4"], "OUTPUT"),
    "export beams 0": (EXPORT + ["--num-beams", "0"], "--num-beams"),
    "export run missing": (["export", "/no/run", "{root}/out"], "/no/run"),
    # bench, inspect, demo, no command
    "bench batch 0": (["bench", "--batch", "0"], "--batch"),
    "bench units 0": (["bench", "--units", "0"], "--units"),
    "bench timed 0": (["bench", "--timed", "0"], "--timed"),
    "inspect empty text": (["inspect", "{run}", "--text", "  "], "--text"),
    "inspect without text": (["inspect", "{run}"], "--text"),
    "demo epochs 0": (["demo", "--epochs", "0"], "--epochs"),
    "demo data missing": (["demo", "--data", "/no/corpus.txt"], "/no/corpus.txt"),
    "no command": ([], "command"),
}


@pytest.mark.parametrize("argv, culprit", list(CASES.values()), ids=list(CASES))
def test_bad_input_exits_2_with_one_line_naming_the_culprit(
    argv, culprit, place, capsys, monkeypatch
):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.chdir(place["root"])
    argv = [a.format(**place) for a in argv]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("lstm-zoo") and ": error: " in lines[0], lines[0]
    assert culprit.format(**place) in lines[0], lines[0]
    assert "Traceback" not in captured.err
    assert not (place["root"] / "runs").exists()  # nothing was trained or written


def test_unreadable_training_file_is_named(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root reads files whatever their mode")
    path = tmp_path / "secret.txt"
    path.write_text(SST)
    path.chmod(0)
    assert cli.main(["train", "--task", "sentiment", "--train", str(path)]) == 2
    assert "cannot be read" in capsys.readouterr().err


def test_the_catalogue_is_wide():
    assert len(CASES) >= 30


def test_keras_is_left_usable_after_the_catalogue():
    assert keras.ops.convert_to_numpy(keras.ops.ones(2)).tolist() == [1.0, 1.0]
