"""Fine-tuning shown: the IMDB review preset fine-tuned on SST-2 sentences against the same
model from scratch, on a user-style tf.data pipeline of raw strings.

Both arms see exactly the same pipeline: `--train` SST-2 training sentences (seeded sample),
raw strings and 0/1 labels in a `tf.data.Dataset`, shuffled, batched by `--batch-size`; one
epoch (`--epochs`); Adam at `--learning-rate`. The preset arm starts from
`TextClassifier.from_preset("imdb-bilstm")` (whole IMDB reviews: GloVe-initialised embeddings
fine-tuned on them, BiLSTM, head); the scratch arm is `TextClassifier.build` with the preset's
vocabulary, tokenizer rule and backbone arguments and fresh random weights. The preset before
fine-tuning (zero-shot transfer from reviews to sentences) is scored too. Accuracy on the
SST-2 test split (1,821 sentences, or the first `--test`), over `--seeds` seeds.

(Until 2026-12-07 this script fine-tuned the SST-2 preset on IMDB reviews; that preset now
starts from imdb-bilstm, so IMDB is no longer another domain to it: benchmarks/RESULTS.md keeps
the earlier figures.)

    python benchmarks/fine_tune_preset.py [--train 2000] [--test 1821] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from lstm_zoo.data import dataset_path  # noqa: E402
from lstm_zoo.data.classification import read_label_text_lines  # noqa: E402
from lstm_zoo.models import TextClassifier  # noqa: E402
from lstm_zoo.presets import from_preset  # noqa: E402
from lstm_zoo.presets.io import load_metadata  # noqa: E402

PRESET = "imdb-bilstm"


def user_pipeline(texts, labels, batch_size, seed):
    """What a user writes: raw strings and labels, shuffled and batched."""
    data = tf.data.Dataset.from_tensor_slices((list(texts), np.asarray(labels, np.int32)))
    return data.shuffle(len(texts), seed=seed).batch(batch_size)


def scratch_like(preset_model):
    """The preset's architecture and vocabulary, fresh random weights."""
    arguments = dict(preset_model.backbone_arguments)
    arguments.pop("vocab_size")
    return TextClassifier.build(
        preset_model.preprocessor.vocabulary,
        preset_model.labels,
        lowercase=preset_model.preprocessor.lowercase,
        level=preset_model.preprocessor.level,
        **arguments,
    )


def accuracy(model, texts, labels):
    predicted = np.array(model.predict_labels(list(texts), batch_size=64))
    return float(np.mean(predicted == np.array(model.labels)[np.asarray(labels)]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=2000, help="SST-2 training sentences")
    parser.add_argument("--test", type=int, default=1821, help="SST-2 test sentences scored")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--json", default="benchmarks/out/fine_tune_preset.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    folder = dataset_path("sst2")
    train_texts, train_labels = read_label_text_lines(folder / "stsa.binary.train")
    test_texts, test_labels = read_label_text_lines(folder / "stsa.binary.test")
    test = (test_texts[: args.test], np.asarray(test_labels)[: args.test])
    print(f"test: {len(test[0]):,} SST-2 test sentences, {np.mean(test[1]):.1%} positive")

    zero_shot = accuracy(from_preset(PRESET), *test)
    print(f"{PRESET} before fine-tuning (zero-shot): {zero_shot:.4f}")
    rows = []
    for seed in range(args.seeds):
        rows_seed = np.random.RandomState(seed).permutation(len(train_texts))[: args.train]
        texts = [train_texts[i] for i in rows_seed]
        labels = np.asarray(train_labels)[rows_seed]
        for arm in ("preset", "scratch"):
            keras.utils.set_random_seed(seed)
            model = from_preset(PRESET)
            if arm == "scratch":
                model = scratch_like(model)
            model.compile_default(args.learning_rate)
            began = time.perf_counter()
            model.fit(
                user_pipeline(texts, labels, args.batch_size, seed), epochs=args.epochs, verbose=0
            )
            seconds = time.perf_counter() - began
            score = accuracy(model, *test)
            rows.append(
                {"seed": seed, "arm": arm, "test_accuracy": score, "fit_s": round(seconds, 1)}
            )
            print(
                f"seed {seed} {arm:>7}: test accuracy {score:.4f} (fit {seconds:.0f} s)", flush=True
            )

    summary = {}
    for arm in ("preset", "scratch"):
        scores = [r["test_accuracy"] for r in rows if r["arm"] == arm]
        summary[arm] = {"mean": float(np.mean(scores)), "min": min(scores), "max": max(scores)}
        print(
            f"{arm:>7}: mean {np.mean(scores):.4f} (min {min(scores):.4f}, max {max(scores):.4f})"
        )
    result = {
        "preset": PRESET,
        "preset_metrics": load_metadata(PRESET).get("metrics"),
        "zero_shot_accuracy": zero_shot,
        "rows": rows,
        "summary": summary,
        "settings": vars(args),
        "wall_s": round(time.perf_counter() - started, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "date": time.strftime("%Y-%m-%d"),
    }
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as out:
        json.dump(result, out, indent=2)
    print(f"wall {result['wall_s']:.0f} s -> {args.json}")


if __name__ == "__main__":
    main()
