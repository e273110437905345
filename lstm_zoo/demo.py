"""The offline demo (`make demo`, `lstm-zoo demo`): data to a served SavedModel in minutes.

1. The corpus: the Python documentation that ships with every CPython (`pydoc_data.topics`),
   or the user's UTF-8 text with `--data`. Words and punctuation are split apart and
   lowercased; each non-empty line is a sentence (`<eos>` at its end); the last 10 % of the
   lines are the validation split.
2. A word-level language model (`pydoc-demo` preset: 2 x 200 zoo_lstm, truncated BPTT with the
   state carried, SGD as in Zaremba et al.) trains through `lstm_zoo.tasks.train`, the code of
   `lstm-zoo train`, and reports validation perplexity.
3. The run directory loaded back as the task model every command uses
   (`lstm_zoo.runs.load_task_model`, a `LanguageModel`); samples from its greedy, top-k and
   beam search (`generate`).
4. Its SavedModel export (`LanguageModel.export`) serving raw strings; a fresh Python process
   that imports only TensorFlow loads it and generates again: greedy and beam tokens must be
   identical.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

PROMPTS = ("the", "a list of", "if the")
WORD = re.compile(r"\w+|[^\w\s]")


def default_corpus():
    """The text of `pydoc_data.topics` (CPython's own help topics), joined in key order."""
    from pydoc_data import topics

    return "\n".join(topics.topics[key] for key in sorted(topics.topics))


def read_corpus(path):
    """A user's UTF-8 text file; errors name the file."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    return text


def sentences(text):
    """Lowercased word/punctuation tokens of each non-empty line, as space-joined lines."""
    return [" ".join(WORD.findall(line.lower())) for line in text.splitlines() if line.strip()]


def split_corpus(text, directory, min_words=2000):
    """Write train.txt and valid.txt (one sentence a line, the last 10 % of lines valid)."""
    lines = [line for line in sentences(text) if line]
    words = sum(len(line.split()) for line in lines)
    if words < min_words:
        raise ValueError(f"the corpus has {words} words; the demo needs at least {min_words}")
    cut = int(len(lines) * 0.9)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = directory / "train.txt", directory / "valid.txt"
    for path, part in zip(paths, (lines[:cut], lines[cut:])):
        path.write_text("\n".join(part) + "\n", encoding="utf-8")
    return paths, words


# Runs in a fresh interpreter that cannot import lstm_zoo: TensorFlow alone serves the export.
SERVE = """
import json, sys
sys.modules["lstm_zoo"] = None
import tensorflow as tf
model = tf.saved_model.load(sys.argv[1])
prompts, max_length = json.loads(sys.argv[2]), int(sys.argv[3])
out = {}
for name in ("generate_greedy", "generate_beam"):
    result = model.signatures[name](
        prompts=tf.constant(prompts), max_length=tf.constant(max_length),
        seed=tf.constant([0, 0]),
    )
    out[name] = [t.decode("utf-8") for t in result["texts"].numpy()]
print(json.dumps(out))
"""


def serve_in_fresh_process(saved_model, prompts, max_length):
    """{signature: texts} from a TensorFlow-only subprocess."""
    run = subprocess.run(
        [sys.executable, "-c", SERVE, str(saved_model), json.dumps(list(prompts)), str(max_length)],
        capture_output=True,
        text=True,
    )
    if run.returncode != 0:
        raise RuntimeError(f"serving the export failed:\n{run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main_demo(data=None, output="runs/demo", epochs=None, seed=0, cell="zoo_lstm", log=print):
    """Run the demo; returns 0 when the served model reproduced the Keras model's outputs."""
    from lstm_zoo.tasks import train

    started = time.perf_counter()
    text = default_corpus() if data is None else read_corpus(data)
    output = Path(output)
    (train_path, valid_path), words = split_corpus(text, output / "data")
    source = data or "CPython's pydoc topics (offline)"
    log(f"corpus: {source}, {words:,} words -> {train_path.parent}/{{train,valid}}.txt")
    run, _, history = train(
        "lm",
        train_path=train_path,
        valid_path=valid_path,
        output=output / "run",
        cell=cell,
        preset="pydoc-demo",
        epochs=epochs,
        seed=seed,
        verbose=2,
        log=log,
        overwrite=True,  # the demo's own directory: each `make demo` replaces the last one
    )
    perplexities = history.history["val_perplexity"]
    log(
        f"validation perplexity by epoch: {', '.join(f'{p:.1f}' for p in perplexities)} "
        f"(vocabulary {len(run.vocabulary):,}; a uniform guess: {len(run.vocabulary) - 1:,})"
    )

    from lstm_zoo.runs import load_task_model

    _, language_model = load_task_model(output / "run")  # the run as a LanguageModel
    max_length = 20
    samples = {}
    for sampler, kwargs in (("greedy", {}), ("top_k", {"k": 10}), ("beam", {"num_beams": 4})):
        samples[sampler] = language_model.generate(
            list(PROMPTS), max_length, sampler, seed, **kwargs
        )
        log(f"\n{sampler} {kwargs or ''}:")
        for sample in samples[sampler]:
            log(f"  {sample}")

    saved_model = output / "saved_model"
    language_model.export(
        str(saved_model), samplers=("greedy", "top_k", "beam"), num_beams=4, overwrite=True
    )
    log(f"\nexported {saved_model}; serving it from a fresh TensorFlow-only process ...")
    served = serve_in_fresh_process(saved_model, PROMPTS, max_length)
    identical = True
    for sampler in ("greedy", "beam"):
        same = served[f"generate_{sampler}"] == samples[sampler]
        identical &= same
        log(f"  {sampler}: served == keras: {'yes' if same else 'NO'}")
        for sample in served[f"generate_{sampler}"]:
            log(f"    {sample}")
    log(f"\ndemo done in {time.perf_counter() - started:.0f} s; run directory {output / 'run'}")
    return 0 if identical else 1
