"""The demo end to end on a small corpus: train, sample, export, serve from TensorFlow alone."""

import json

import pytest

from lstm_zoo.demo import main_demo, sentences, split_corpus


def test_corpus_lines_split_words_and_punctuation(tmp_path):
    assert sentences("Hello, World!\n\n  x=1 ") == ["hello , world !", "x = 1"]
    with pytest.raises(ValueError, match="the corpus has 3 words; the demo needs at least"):
        split_corpus("a b c", tmp_path)


def test_demo_trains_samples_exports_and_the_served_model_agrees(tmp_path):
    text = "\n".join(
        f"the {a} {b} sat on the {c} ."
        for a in ("big", "small", "old")
        for b in ("cat", "dog")
        for c in ("mat", "log", "rug", "bed")
    )
    corpus = tmp_path / "corpus.txt"
    corpus.write_text((text + "\n") * 40)
    lines = []
    status = main_demo(data=str(corpus), output=tmp_path / "demo", epochs=1, log=lines.append)
    log = "\n".join(lines)
    assert status == 0, log
    assert "validation perplexity by epoch:" in log
    for sampler in ("greedy", "top_k", "beam"):
        assert f"\n{sampler}" in log
    assert "greedy: served == keras: yes" in log and "beam: served == keras: yes" in log
    run = json.loads((tmp_path / "demo" / "run" / "run.json").read_text())
    assert run["task"] == "lm" and run["settings"]["preset"] == "pydoc-demo"
    assert (tmp_path / "demo" / "saved_model" / "saved_model.pb").is_file()
