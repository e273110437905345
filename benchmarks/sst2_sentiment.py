"""SST-2 sentence-level sentiment with GloVe 6B 50d vectors; test accuracy beside Tai et al.
(2015)'s 2-layer LSTM (86.3). The epoch is selected on dev; the test set is scored once.

    python benchmarks/sst2_sentiment.py [--cell zoo_lstm] [--epochs 12] [--bidirectional]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from lstm_zoo.data import dataset_path  # noqa: E402
from lstm_zoo.data.classification import (  # noqa: E402
    build_vocabulary,
    classification_dataset,
    encode_texts,
    read_label_text_lines,
)
from lstm_zoo.embeddings import load_embeddings  # noqa: E402
from lstm_zoo.models import compile_sentiment_classifier, sentiment_classifier  # noqa: E402

# ---------------------------------------------------------------- settings
UNITS, LAYERS, DROPOUT, BATCH, LEARNING_RATE = 150, 2, 0.5, 32, 2e-3
PAPER_TEST_ACCURACY = 86.3  # Tai et al. 2015, 2-layer LSTM, SST-2


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    keras.utils.set_random_seed(args.seed)

    folder = dataset_path("sst2")
    splits = {
        s: read_label_text_lines(folder / f"stsa.binary.{s}") for s in ("train", "dev", "test")
    }
    vocabulary = build_vocabulary(splits["train"][0])
    matrix, report = load_embeddings(
        dataset_path("glove", "glove.6B.50d.txt.gz"),
        vocabulary,
        reserved=2,
        lowercase_fallback=True,
    )
    print(f"GloVe 6B 50d: {report}")
    data = {
        s: classification_dataset(
            encode_texts(texts, vocabulary), labels, BATCH, shuffle=(s == "train"), seed=args.seed
        )
        for s, (texts, labels) in splits.items()
    }
    model = sentiment_classifier(
        embeddings=matrix,
        cell=args.cell,
        units=UNITS,
        num_layers=LAYERS,
        dropout=DROPOUT,
        bidirectional=args.bidirectional,
        trainable_embeddings=True,
    )
    compile_sentiment_classifier(model, LEARNING_RATE)
    best = keras.callbacks.EarlyStopping(
        monitor="val_binary_accuracy", mode="max", patience=args.epochs, restore_best_weights=True
    )
    history = model.fit(
        data["train"], validation_data=data["dev"], epochs=args.epochs, verbose=2, callbacks=[best]
    )
    dev_accuracy = max(history.history["val_binary_accuracy"])
    test = model.evaluate(data["test"], verbose=0, return_dict=True)
    wall = time.perf_counter() - started
    result = {
        "cell": args.cell,
        "bidirectional": args.bidirectional,
        "epochs": args.epochs,
        "best_epoch": int(history.history["val_binary_accuracy"].index(dev_accuracy)) + 1,
        "dev_accuracy": 100 * dev_accuracy,
        "test_accuracy": 100 * test["binary_accuracy"],
        "paper_test_accuracy": PAPER_TEST_ACCURACY,
        "glove_coverage": report.coverage,
        "wall_s": wall,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
    }
    print(
        f"\nSST-2 / {args.cell}: test accuracy {result['test_accuracy']:.1f} "
        f"(paper {PAPER_TEST_ACCURACY}), dev {result['dev_accuracy']:.1f} at epoch "
        f"{result['best_epoch']}, {wall / 60:.1f} min"
    )
    path = args.json or f"benchmarks/out/sst2_{args.cell}.json"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
