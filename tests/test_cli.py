import subprocess
import sys

from lstm_zoo import cli


def test_cells_lists_every_registered_layer(capsys):
    assert cli.main(["cells"]) == 0
    out = capsys.readouterr().out
    for name in ("lstm", "gru", "zoo_lstm", "peephole", "coupled", "zoo_gru"):
        assert f"\n{name} " in out
    assert "keras.src.layers.rnn.lstm.LSTM" in out and "lstm_zoo.layers.recurrent.LSTM" in out


def test_demo_on_missing_file_is_one_clear_line_and_exit_2():
    result = subprocess.run(
        [sys.executable, "-m", "lstm_zoo.cli", "demo", "--data", "/no/such/file.txt"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "lstm-zoo demo: error: /no/such/file.txt: no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_trains_and_prints_the_table(tmp_path, capsys):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 600, encoding="utf-8")
    assert (
        cli.main(["demo", "--data", str(corpus), "--layers", "lstm,coupled", "--steps", "3"]) == 0
    )
    out = capsys.readouterr().out
    assert "| coupled |" in out and "| lstm |" in out and "1.00x" in out
