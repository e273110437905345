"""SST-2 sentence-level sentiment with GloVe 6B 50d vectors; test accuracy beside Tai et al.
(2015)'s 2-layer LSTM (86.3). The epoch is selected on dev; the test set is scored once.

    python benchmarks/sst2_sentiment.py [--cell zoo_lstm] [--epochs 12] [--bidirectional]

The variant study (cf. Greff et al. 2017) trains the same model with each cell in turn and
prints one table row per cell (dev, test, wall time):

    python benchmarks/sst2_sentiment.py --cells zoo_lstm peephole coupled zoo_gru \
        --bidirectional --layers 1 --units 100 --pooling max --embedding-dropout 0.3 --epochs 5

Batches are bucketed by length and padded to the bucket boundary (one shape per bucket: the
zoo layers compile their time loops once per shape).
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
BUCKET_BOUNDARIES = [8, 12, 16, 20, 25, 30, 40, 64]  # SST-2 sentences have at most 56 tokens
PAPER_TEST_ACCURACY = 86.3  # Tai et al. 2015, 2-layer LSTM, SST-2


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", default="lstm")
    parser.add_argument("--cells", nargs="+", default=None, help="the variant study")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--units", type=int, default=UNITS)
    parser.add_argument("--layers", type=int, default=LAYERS)
    parser.add_argument("--pooling", default="last", choices=("last", "max", "mean"))
    parser.add_argument("--embedding-dropout", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()

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
            encode_texts(texts, vocabulary),
            labels,
            BATCH,
            shuffle=(s == "train"),
            seed=args.seed,
            bucket_boundaries=BUCKET_BOUNDARIES,
            pad_to_bucket_boundary=True,
        )
        for s, (texts, labels) in splits.items()
    }
    setup_s = time.perf_counter() - started
    name = "study" if args.cells else args.cell
    path = args.json or f"benchmarks/out/sst2_{name}.json"
    os.makedirs(os.path.dirname(path), exist_ok=True)
    results = []
    for cell in args.cells or [args.cell]:
        results.append(run_cell(cell, args, matrix, data))
        results[-1].update(glove_coverage=report.coverage, setup_s=setup_s)
        with open(path, "w") as f:  # after every cell, so a cut-short study keeps its rows
            json.dump(results if args.cells else results[0], f, indent=2)

    print("\n| cell | best epoch | dev accuracy | test accuracy | wall (min) |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['cell']} | {r['best_epoch']} of {r['epochs']} | {r['dev_accuracy']:.1f} | "
            f"{r['test_accuracy']:.1f} | {r['wall_s'] / 60:.1f} |"
        )
    print(f"| Tai et al. 2015, 2-layer LSTM | | | {PAPER_TEST_ACCURACY} | |")
    print(f"wrote {path}; total {(time.perf_counter() - started) / 60:.1f} min")


def run_cell(cell, args, matrix, data):
    """Train one model with `cell`, select the epoch on dev, score the test set once."""
    started = time.perf_counter()
    keras.utils.set_random_seed(args.seed)
    model = sentiment_classifier(
        embeddings=matrix,
        cell=cell,
        units=args.units,
        num_layers=args.layers,
        dropout=DROPOUT,
        bidirectional=args.bidirectional,
        pooling=args.pooling,
        embedding_dropout=args.embedding_dropout,
        trainable_embeddings=True,
    )
    compile_sentiment_classifier(model, LEARNING_RATE)
    best = keras.callbacks.EarlyStopping(
        monitor="val_binary_accuracy", mode="max", patience=args.epochs, restore_best_weights=True
    )
    history = model.fit(
        data["train"], validation_data=data["dev"], epochs=args.epochs, verbose=2, callbacks=[best]
    )
    dev_curve = history.history["val_binary_accuracy"]
    test = model.evaluate(data["test"], verbose=0, return_dict=True)
    wall = time.perf_counter() - started
    result = {
        "cell": cell,
        "bidirectional": args.bidirectional,
        "units": args.units,
        "layers": args.layers,
        "pooling": args.pooling,
        "embedding_dropout": args.embedding_dropout,
        "epochs": args.epochs,
        "best_epoch": int(max(range(len(dev_curve)), key=dev_curve.__getitem__)) + 1,
        "train_accuracy": [100 * a for a in history.history["binary_accuracy"]],
        "dev_curve": [100 * a for a in dev_curve],
        "dev_accuracy": 100 * max(dev_curve),
        "test_accuracy": 100 * test["binary_accuracy"],
        "paper_test_accuracy": PAPER_TEST_ACCURACY,
        "wall_s": wall,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
    }
    print(
        f"\nSST-2 / {cell}: test accuracy {result['test_accuracy']:.1f} "
        f"(paper {PAPER_TEST_ACCURACY}), dev {result['dev_accuracy']:.1f} at epoch "
        f"{result['best_epoch']}, {wall / 60:.1f} min"
    )
    return result


if __name__ == "__main__":
    main()
