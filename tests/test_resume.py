"""A training run killed with SIGKILL mid-epoch and restarted with the same command ends with
the weights of an uninterrupted run (language model with carried state; tagger)."""

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from lstm_zoo import cli
from lstm_zoo.runs import load_run
from tests.test_cli import CONLLU

# A wrapper that runs the CLI and SIGKILLs its own process after KILL_AFTER training steps
# (counted over the whole run), as an outside kill would.
KILLER = textwrap.dedent(
    """
    import os, signal, sys
    import keras
    import lstm_zoo.tasks as tasks

    class Kill(keras.callbacks.Callback):
        steps = 0

        def on_train_batch_end(self, batch, logs=None):
            Kill.steps += 1
            if Kill.steps == int(os.environ["KILL_AFTER"]):
                os.kill(os.getpid(), signal.SIGKILL)

    original = tasks._callbacks
    tasks._callbacks = lambda *a, **k: original(*a, **k) + [Kill()]
    from lstm_zoo import cli
    sys.exit(cli.main(sys.argv[1:]))
    """
)


def _killed_run(tmp_path, argv, kill_after):
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = {**os.environ, "KILL_AFTER": str(kill_after), "TF_CPP_MIN_LOG_LEVEL": "2"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run(
        [sys.executable, str(script), *argv], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]


def _weights(run):
    return load_run(run)[1].get_weights()


def _assert_resumes_exactly(tmp_path, argv, kill_after, backups):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert cli.main([*argv, "--output", str(straight)]) == 0

    _killed_run(tmp_path, [*argv, "--output", str(resumed)], kill_after)
    partial = tmp_path / "resumed.partial"
    assert not resumed.exists() and partial.is_dir()  # nothing half-written in OUTPUT
    with np.load(partial / "backup" / "state.npz") as state:
        assert state["position"].tolist() == backups

    assert cli.main([*argv, "--output", str(resumed)]) == 0
    assert not partial.exists() and (resumed / "model.keras").is_file()
    for a, b in zip(_weights(straight), _weights(resumed), strict=True):
        np.testing.assert_array_equal(a, b)
    rows = (resumed / "history.csv").read_text().splitlines()
    assert rows == (straight / "history.csv").read_text().splitlines()[:1] + rows[1:]
    assert len(rows) == 1 + 2


@pytest.mark.parametrize("cell", ["zoo_lstm"])
def test_language_model_with_carried_state_and_dropout_resumes_mid_epoch(tmp_path, cell, capsys):
    text = tmp_path / "corpus.txt"
    text.write_text("the cat sat on the mat .\nthe dog sat on the log .\n" * 20)
    argv = ["train", "--task", "lm", "--train", str(text), "--valid", str(text), "--cell", cell]
    argv += ["--units", "8", "--layers", "1", "--batch-size", "4", "--num-steps", "4"]
    argv += ["--epochs", "2", "--backup-every", "3", "--preset", "ptb-medium"]  # dropout 0.5:
    # the dropout masks after the restart come from the restored random-generator states.
    # 320 tokens: 19 windows of 4 x 4 an epoch; killed at step 12 of epoch 2, backed up at 9.
    _assert_resumes_exactly(tmp_path, argv, 19 + 12, [1, 9])
    assert "resuming from" in capsys.readouterr().out


def test_tagger_resumes_mid_epoch_in_the_same_data_order(tmp_path):
    conllu = tmp_path / "tiny.conllu"
    conllu.write_text(CONLLU * 8)
    argv = ["train", "--task", "tagger", "--train", str(conllu), "--valid", str(conllu)]
    # Keras's own LSTM: the resume does not depend on the cell (the LM test runs a zoo layer).
    argv += ["--cell", "lstm", "--units", "8", "--batch-size", "2", "--epochs", "2"]
    argv += ["--backup-every", "2"]
    # 16 sentences: 8 batches an epoch; killed at step 7 of epoch 2, backed up at 6.
    _assert_resumes_exactly(tmp_path, argv, 8 + 7, [1, 6])


def test_a_failed_overwrite_keeps_the_old_run_and_export_refuses_to_overwrite(
    tmp_path, monkeypatch, capsys
):
    import keras

    import lstm_zoo.tasks as tasks

    sst = tmp_path / "sst.txt"
    sst.write_text("1 a fine film\n0 a dull film\n" * 4)
    run = tmp_path / "run"
    argv = ["train", "--task", "sentiment", "--train", str(sst), "--units", "4", "--epochs", "1"]
    argv += ["--output", str(run)]
    assert cli.main(argv) == 0
    before = (run / "model.keras").read_bytes()

    assert cli.main(argv) == 2  # an existing run is not overwritten without --overwrite
    assert "--overwrite" in capsys.readouterr().err

    class Crash(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            raise OSError("disk full")

    original = tasks._callbacks
    monkeypatch.setattr(tasks, "_callbacks", lambda *a, **k: original(*a, **k) + [Crash()])
    assert cli.main(argv + ["--overwrite", "--seed", "1"]) == 2
    assert "disk full" in capsys.readouterr().err
    assert (run / "model.keras").read_bytes() == before  # the old run is whole
    assert (tmp_path / "run.partial").is_dir()

    monkeypatch.setattr(tasks, "_callbacks", original)
    assert cli.main(argv + ["--overwrite"]) == 2  # other options than the interrupted run's
    assert "other options" in capsys.readouterr().err
    assert cli.main(argv + ["--overwrite", "--seed", "1"]) == 0
    assert (run / "model.keras").read_bytes() != before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "sst.txt"]

    exported = tmp_path / "exported"
    assert cli.main(["export", str(run), str(exported)]) == 0
    assert cli.main(["export", str(run), str(exported)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(["export", str(run), str(exported), "--overwrite"]) == 0
