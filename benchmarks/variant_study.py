"""Variant study: every registered recurrent cell on three real tasks at equal budgets (the
comparison of Greff et al. 2017 and Jozefowicz et al. 2015, at a 2-CPU scale).

Tasks (budgets in examples and epochs, the same for every cell; settings at the top):

- ewt: UD English EWT UPOS tagger (BiRNN over fine-tuned GloVe 6B 50d, no character
  features) on the first EWT_TRAIN training sentences, scored on the full test split
  (token accuracy, %).
- sst2: SST-2 sentence classifier (one RNN layer over fine-tuned GloVe 6B 50d) on the first
  SST2_TRAIN training sentences, scored on the full dev split (accuracy, %).
- lm: tiny-shakespeare character LM (first 90 % of input.txt is train, the last 10 % valid,
  Karpathy's split) on a fixed LM_TRAIN_CHARS-character prefix of the train text, scored in
  bits per character on the whole validation text (lower is better).

Every run scores the model after its last epoch (no epoch selection). A cell that raises is
recorded as an error row; the study goes on.

    python benchmarks/variant_study.py [--tasks ewt,sst2,lm] [--cells a,b] [--seeds N]
        [--json PATH] [--resume] [--quick]

`--resume` keeps the runs already in `--json` and runs only the missing (task, cell, seed)
triples, so seeds can be added later: `--seeds 3 --resume` after a one-seed study.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

import lstm_zoo  # noqa: E402
from lstm_zoo.data import Vocabulary, dataset_path, lm_windows, read_lm_tokens  # noqa: E402
from lstm_zoo.data.classification import (  # noqa: E402
    build_vocabulary,
    classification_dataset,
    encode_texts,
    read_label_text_lines,
)
from lstm_zoo.data.tagging import tagging_dataset  # noqa: E402
from lstm_zoo.embeddings import load_embeddings  # noqa: E402
from lstm_zoo.models import (  # noqa: E402
    compile_language_model,
    compile_sentiment_classifier,
    language_model,
    sentiment_classifier,
)
from lstm_zoo.models.tagger import compile_tagger, sequence_tagger  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ud_pos_tagging import prepare as prepare_ewt  # noqa: E402

# ---------------------------------------------------------------- settings
BATCH, LEARNING_RATE = 32, 2e-3  # Adam for every task
EWT_TRAIN, EWT_EPOCHS, EWT_UNITS, EWT_DROPOUT = 3000, 3, 64, 0.33
SST2_TRAIN, SST2_EPOCHS, SST2_UNITS, SST2_DROPOUT = 4000, 3, 64, 0.5
LM_TRAIN_CHARS, LM_EPOCHS, LM_UNITS, LM_EMBEDDING, LM_STEPS = 200_000, 3, 128, 64, 64
LM_CLIPNORM = 5.0
QUICK = {  # --quick: a smoke budget
    "ewt_train": 200,
    "ewt_epochs": 1,
    "sst2_train": 200,
    "sst2_epochs": 1,
    "lm_train_chars": 20_000,
    "lm_epochs": 1,
    "lm_valid_chars": 20_000,
}
METRIC = {"ewt": "test UPOS acc. %", "sst2": "dev acc. %", "lm": "valid bits/char"}


def budgets(quick):
    b = {
        "batch": BATCH,
        "learning_rate": LEARNING_RATE,
        "ewt_train": EWT_TRAIN,
        "ewt_epochs": EWT_EPOCHS,
        "ewt_units": EWT_UNITS,
        "ewt_dropout": EWT_DROPOUT,
        "ewt_batching": "shuffled padded_batch, no length buckets",
        "sst2_train": SST2_TRAIN,
        "sst2_epochs": SST2_EPOCHS,
        "sst2_units": SST2_UNITS,
        "sst2_dropout": SST2_DROPOUT,
        "sst2_batching": "shuffled padded_batch, no length buckets",
        "lm_train_chars": LM_TRAIN_CHARS,
        "lm_epochs": LM_EPOCHS,
        "lm_units": LM_UNITS,
        "lm_embedding": LM_EMBEDDING,
        "lm_steps": LM_STEPS,
        "lm_clipnorm": LM_CLIPNORM,
        "lm_valid_chars": None,  # the whole validation text
    }
    if quick:
        b.update(QUICK)
    return b


# ---------------------------------------------------------------- tasks
class EWT:
    def __init__(self, b):
        self.b = b
        _, _, self.tags, _, self.matrix, self.report, self.encoded, _ = prepare_ewt(b["ewt_train"])
        self.sizes = {k: len(v[0]) for k, v in self.encoded.items()}

    def run(self, cell, seed):
        b = self.b
        data = {
            split: tagging_dataset(
                self.encoded[split][0],
                self.encoded[split][1],
                b["batch"],
                shuffle=(split == "train"),
                seed=seed,
            )
            for split in ("train", "test")
        }
        model = sequence_tagger(
            len(self.tags),
            embeddings=self.matrix,
            cell=cell,
            units=b["ewt_units"],
            dropout=b["ewt_dropout"],
        )
        compile_tagger(model, b["learning_rate"])
        model.fit(data["train"], epochs=b["ewt_epochs"], verbose=0)
        test = model.evaluate(data["test"], verbose=0, return_dict=True)
        return 100 * test["sparse_categorical_accuracy"]


class SST2:
    def __init__(self, b):
        self.b = b
        folder = dataset_path("sst2")
        self.splits = {
            s: read_label_text_lines(folder / f"stsa.binary.{s}") for s in ("train", "dev")
        }
        texts, labels = self.splits["train"]
        self.splits["train"] = (texts[: b["sst2_train"]], labels[: b["sst2_train"]])
        self.vocabulary = build_vocabulary(self.splits["train"][0])
        self.matrix, self.report = load_embeddings(
            dataset_path("glove", "glove.6B.50d.txt.gz"),
            self.vocabulary,
            reserved=2,
            lowercase_fallback=True,
        )
        self.encoded = {
            s: (encode_texts(texts, self.vocabulary), labels)
            for s, (texts, labels) in self.splits.items()
        }
        self.sizes = {s: len(v[0]) for s, v in self.encoded.items()}

    def run(self, cell, seed):
        b = self.b
        data = {
            s: classification_dataset(
                ids,
                labels,
                b["batch"],
                shuffle=(s == "train"),
                seed=seed,
            )
            for s, (ids, labels) in self.encoded.items()
        }
        model = sentiment_classifier(
            embeddings=self.matrix,
            cell=cell,
            units=b["sst2_units"],
            dropout=b["sst2_dropout"],
            trainable_embeddings=True,
        )
        compile_sentiment_classifier(model, b["learning_rate"])
        model.fit(data["train"], epochs=b["sst2_epochs"], verbose=0)
        dev = model.evaluate(data["dev"], verbose=0, return_dict=True)
        return 100 * dev["binary_accuracy"]


class CharLM:
    def __init__(self, b):
        self.b = b
        chars = read_lm_tokens(dataset_path("tinyshakespeare", "input.txt"), level="char")
        cut = int(0.9 * len(chars))
        self.vocab = Vocabulary.build([chars])
        train, valid = chars[:cut][: b["lm_train_chars"]], chars[cut:]
        if b["lm_valid_chars"]:
            valid = valid[: b["lm_valid_chars"]]
        self.ids = {"train": self.vocab.encode(train), "valid": self.vocab.encode(valid)}
        self.sizes = {k: len(v) for k, v in self.ids.items()}

    def run(self, cell, seed):
        b = self.b
        data = {k: lm_windows(v, b["batch"], b["lm_steps"]) for k, v in self.ids.items()}
        model = language_model(
            len(self.vocab),
            cell=cell,
            embedding_dim=b["lm_embedding"],
            units=b["lm_units"],
            num_layers=1,
        )
        optimizer = keras.optimizers.Adam(b["learning_rate"], global_clipnorm=b["lm_clipnorm"])
        compile_language_model(model, optimizer=optimizer)
        model.fit(data["train"].shuffle(64, seed=seed), epochs=b["lm_epochs"], verbose=0)
        valid = model.evaluate(data["valid"], verbose=0, return_dict=True)
        return valid["loss"] / math.log(2)  # nats per character -> bits per character


TASKS = {"ewt": EWT, "sst2": SST2, "lm": CharLM}


def same_budget(old, new, task):
    """Whether two budget dicts agree on everything a `task` run depends on."""
    keys = {"batch", "learning_rate"} | {k for k in new if k.startswith(task + "_")}
    return all(old.get(k) == new.get(k) for k in keys)


# ---------------------------------------------------------------- table
def summarize(runs, tasks, cells):
    """Markdown: cell x task, mean (min-max over seeds), then the mean wall s per run."""
    header = "| cell | " + " | ".join(f"{t}: {METRIC[t]}" for t in tasks)
    header += " | " + " | ".join(f"{t} s/run" for t in tasks) + " |"
    lines = [header, "|---|" + "---:|" * (2 * len(tasks))]
    for cell in cells:
        scores, walls = [], []
        for task in tasks:
            rows = [r for r in runs if r["cell"] == cell and r["task"] == task]
            ok = [r["metric"] for r in rows if r["error"] is None]
            errors = [r for r in rows if r["error"] is not None]
            digits = 3 if task == "lm" else 2
            if not rows:
                scores.append("–")
            elif not ok:
                scores.append(f"error: {errors[0]['error'].splitlines()[-1][:60]}")
            else:
                text = f"{statistics.mean(ok):.{digits}f}"
                if len(ok) > 1:
                    text += f" ({min(ok):.{digits}f}–{max(ok):.{digits}f}, n={len(ok)})"
                if errors:
                    text += f" + {len(errors)} error"
                scores.append(text)
            walls.append(f"{statistics.mean(r['wall_s'] for r in rows):.0f}" if rows else "–")
        lines.append(f"| {cell} | " + " | ".join(scores) + " | " + " | ".join(walls) + " |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="ewt,sst2,lm")
    parser.add_argument("--cells", default=",".join(lstm_zoo.available_recurrent_layers()))
    parser.add_argument("--seeds", type=int, default=1, help="seeds 0 .. N-1")
    parser.add_argument("--json", default="benchmarks/out/variant_study.json")
    parser.add_argument("--resume", action="store_true", help="keep the runs in --json")
    parser.add_argument("--quick", action="store_true", help="a tiny smoke budget")
    args = parser.parse_args(argv)
    tasks, cells = args.tasks.split(","), args.cells.split(",")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        parser.error(f"unknown tasks {unknown}; choose from {sorted(TASKS)}")
    b = budgets(args.quick)
    started = time.perf_counter()
    runs = []
    if args.resume and os.path.exists(args.json):
        with open(args.json) as f:
            previous = json.load(f)
        runs = [r for r in previous["runs"] if same_budget(previous["budgets"], b, r["task"])]
        print(f"resumed {len(runs)} of {len(previous['runs'])} runs from {args.json}")
    done = {(r["task"], r["cell"], r["seed"]) for r in runs}
    summary = {
        "budgets": b,
        "tasks": tasks,
        "cells": cells,
        "metric": METRIC,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
        "keras": keras.__version__,
        "runs": runs,
        "data": previous.get("data", {}) if runs else {},
    }
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    for task in tasks:
        todo = [(c, s) for s in range(args.seeds) for c in cells if (task, c, s) not in done]
        if not todo:
            continue
        prepared_at = time.perf_counter()
        data = TASKS[task](b)
        summary["data"][task] = {
            "sizes": data.sizes,
            "prepare_s": time.perf_counter() - prepared_at,
        }
        print(f"{task}: data {data.sizes}, prepared in {time.perf_counter() - prepared_at:.0f} s")
        for cell, seed in todo:
            keras.backend.clear_session()
            keras.utils.set_random_seed(seed)
            run_started = time.perf_counter()
            metric, error = None, None
            try:
                metric = float(data.run(cell, seed))
            except Exception:  # one broken cell must not lose the study
                error = traceback.format_exc()
            wall = time.perf_counter() - run_started
            runs.append(
                {
                    "task": task,
                    "cell": cell,
                    "seed": seed,
                    "metric": metric,
                    "wall_s": wall,
                    "error": error,
                }
            )
            shown = f"{metric:.4f}" if error is None else "ERROR " + error.splitlines()[-1]
            print(f"  {task} / {cell} / seed {seed}: {shown} ({wall:.0f} s)", flush=True)
            summary["session_wall_s"] = time.perf_counter() - started
            with open(args.json + ".tmp", "w") as f:  # after every run: a cut-short study keeps it
                json.dump(summary, f, indent=2)
            os.replace(args.json + ".tmp", args.json)
    seeds = sorted({r["seed"] for r in runs})
    print(
        f"\n{METRIC['lm']}: lower is better; accuracies: higher. Seeds {seeds}"
        + (" (one seed: no spread)" if len(seeds) == 1 else "; mean (min–max, n)")
    )
    print(summarize(runs, tasks, cells))
    for r in runs:
        if r["error"] is not None:
            print(f"\n{r['task']} / {r['cell']} / seed {r['seed']} failed:\n{r['error'][-1500:]}")
    summary["session_wall_s"] = time.perf_counter() - started
    with open(args.json, "w") as f:
        json.dump(summary, f, indent=2)
    print(f"wrote {args.json}; this session {summary['session_wall_s'] / 60:.1f} min")


if __name__ == "__main__":
    main()
