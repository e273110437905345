"""UD English EWT UPOS tagging: BiLSTM over GloVe 6B 50d words + character features; test
accuracy beside the target (95.5) and Plank et al. (2016)'s bi-LSTM tagger (96.4, average over
22 UD v1.2 languages). The epoch is selected on dev; the test set is scored once.

    python benchmarks/ud_pos_tagging.py [--cells lstm] [--epochs 8] [--train-limit N]
        [--pad-multiple 8]

`--cells a,b,c` runs the same experiment once per registered cell, one after another (the
variant study of Greff et al. 2017), and adds a table of all of them.
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from lstm_zoo.bench import write_json  # noqa: E402
from lstm_zoo.data import dataset_path  # noqa: E402
from lstm_zoo.data.conll import read_conllu  # noqa: E402
from lstm_zoo.data.tagging import (  # noqa: E402
    build_character_vocabulary,
    build_tagging_vocabularies,
    encode_characters,
    encode_tagged,
    tagging_dataset,
)
from lstm_zoo.embeddings import load_embeddings  # noqa: E402
from lstm_zoo.models.tagger import compile_tagger, sequence_tagger  # noqa: E402

# ---------------------------------------------------------------- settings
UNITS, DROPOUT, BATCH, LEARNING_RATE = 100, 0.33, 32, 2e-3
CHAR_EMBEDDING_DIM, CHAR_UNITS = 30, 50
GLOVE_EXTRA_WORDS = 50_000  # the GloVe file's most frequent words join the training words
BUCKETS = [8, 12, 16, 20, 25, 30, 40, 60]  # sentence-length bucket boundaries
TARGET_TEST_ACCURACY = 95.5
PAPER_TEST_ACCURACY = 96.4  # Plank et al. 2016, bi-LSTM, average over 22 UD v1.2 languages


def glove_head(path, count):
    """The first `count` words of a GloVe text file (the file is ordered by frequency)."""
    words = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            words.append(line.split(" ", 1)[0])
            if len(words) == count:
                break
    return words


def prepare(train_limit):
    """Read EWT; lowercase word / character / tag vocabularies; GloVe matrix; encoded ids."""
    folder = dataset_path("ud_en_ewt")
    splits = {
        "train": read_conllu(folder / "en_ewt-ud-train.conllu.gz"),
        "dev": read_conllu(folder / "en_ewt-ud-dev.conllu"),
        "test": read_conllu(folder / "en_ewt-ud-test.conllu"),
    }
    tags = build_tagging_vocabularies(splits["train"])[1]  # the UPOS tag set of the full file
    if train_limit:
        splits["train"] = splits["train"][:train_limit]
    words = build_tagging_vocabularies(splits["train"], lowercase=True)[0]
    glove_path = dataset_path("glove", "glove.6B.50d.txt.gz")
    train_vocabulary = len(words)  # ids >= this (or 1) are words unseen in training
    known = set(words)
    words += [w for w in glove_head(glove_path, GLOVE_EXTRA_WORDS) if w not in known]
    matrix, report = load_embeddings(glove_path, words, reserved=2, lowercase_fallback=True)
    characters = build_character_vocabulary(splits["train"])
    encoded = {}
    for split, sentences in splits.items():
        word_ids, tag_ids = encode_tagged(sentences, words, tags, lowercase=True)
        encoded[split] = (word_ids, tag_ids, encode_characters(sentences, characters))
    return splits, words, tags, characters, matrix, report, encoded, train_vocabulary


def datasets(encoded, pad_multiple, seed):
    """Fresh pipelines (every run sees the same sequence of training shuffles)."""
    return {
        split: tagging_dataset(
            word_ids,
            tag_ids,
            BATCH,
            shuffle=(split == "train"),
            seed=seed,
            char_ids=char_ids,
            bucket_boundaries=BUCKETS,
            pad_time_to_multiple=pad_multiple,
        )
        for split, (word_ids, tag_ids, char_ids) in encoded.items()
    }


def accuracy(model, dataset, train_vocabulary):
    """(correct, total, correct unseen, total unseen) over the real tokens, counted batch by
    batch from the predictions; "unseen": words absent from the training sentences."""
    counts = np.zeros(4, np.int64)
    for x, y in dataset:
        predicted = np.argmax(model.predict_on_batch(x), axis=-1)
        tokens = x["tokens"].numpy()
        right = predicted == y.numpy()
        unseen = (tokens == 1) | (tokens >= train_vocabulary)
        counts += [right[tokens != 0].sum(), (tokens != 0).sum(), right[unseen].sum(), unseen.sum()]
    return counts


def run(cell, args, prepared):
    splits, words, tags, characters, matrix, report, encoded, train_vocabulary = prepared
    keras.utils.set_random_seed(args.seed)
    data = datasets(encoded, args.pad_multiple, args.seed)
    started = time.perf_counter()
    model = sequence_tagger(
        len(tags),
        embeddings=matrix,
        cell=cell,
        units=UNITS,
        dropout=DROPOUT,
        char_features=True,
        char_vocab_size=len(characters),
        char_embedding_dim=CHAR_EMBEDDING_DIM,
        char_units=CHAR_UNITS,
        char_cell=args.char_cell,
    )
    compile_tagger(model, LEARNING_RATE)
    best = keras.callbacks.EarlyStopping(
        monitor="val_sparse_categorical_accuracy",
        mode="max",
        patience=args.epochs,
        restore_best_weights=True,
    )
    epoch_times = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: epoch_times.append(-time.perf_counter()),
        on_epoch_end=lambda e, logs: epoch_times.__setitem__(
            -1, epoch_times[-1] + time.perf_counter()
        ),
    )
    history = model.fit(
        data["train"],
        validation_data=data["dev"],
        epochs=args.epochs,
        verbose=2,
        callbacks=[best, timer],
    )
    dev_curve = history.history["val_sparse_categorical_accuracy"]
    dev = accuracy(model, data["dev"], train_vocabulary)
    test = accuracy(model, data["test"], train_vocabulary)
    wall = time.perf_counter() - started
    return {
        "cell": cell,
        "char_cell": args.char_cell,
        "epochs": args.epochs,
        "best_epoch": int(np.argmax(dev_curve)) + 1,
        "dev_curve": [100 * a for a in dev_curve],
        "dev_accuracy": 100 * dev[0] / dev[1],
        "test_accuracy": 100 * test[0] / test[1],
        "test_tokens": int(test[1]),
        "test_accuracy_unseen_words": 100 * test[2] / test[3],
        "test_unseen_words": int(test[3]),
        "epoch_s": epoch_times,
        "wall_s": wall,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="lstm", help="comma-separated registry names")
    parser.add_argument("--char-cell", default="lstm", help="character encoder cell")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train-limit", type=int, default=None, help="first N train sentences")
    parser.add_argument(
        "--pad-multiple",
        type=int,
        default=None,
        help="pad batch lengths to a multiple (fewer XLA compilations for the zoo layers)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    prepared = prepare(args.train_limit)
    splits, words, tags, characters, _, report = prepared[:6]
    print(
        f"EWT train {len(splits['train']):,} / dev {len(splits['dev']):,} / test "
        f"{len(splits['test']):,} sentences; {len(words):,} words, {len(characters):,} "
        f"characters, {len(tags)} tags; GloVe 6B 50d: {report}"
    )
    print(f"data prepared in {time.perf_counter() - started:.0f} s")
    results = []
    for cell in args.cells.split(","):
        results.append(run(cell, args, prepared))
        r = results[-1]
        print(
            f"\nEWT UPOS / {cell}: test accuracy {r['test_accuracy']:.2f} (target "
            f"{TARGET_TEST_ACCURACY}, Plank et al. 2016 {PAPER_TEST_ACCURACY}), dev "
            f"{r['dev_accuracy']:.2f} at epoch {r['best_epoch']}, {r['wall_s'] / 60:.1f} min",
            flush=True,
        )
    print(
        "\n| cell | best epoch | dev UPOS | test UPOS | test, unseen words | s/epoch | wall min |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['cell']} | {r['best_epoch']}/{r['epochs']} | {r['dev_accuracy']:.2f} | "
            f"{r['test_accuracy']:.2f} | {r['test_accuracy_unseen_words']:.2f} | "
            f"{np.mean(r['epoch_s']):.0f} | {r['wall_s'] / 60:.1f} |"
        )
    summary = {
        "results": results,
        "target_test_accuracy": TARGET_TEST_ACCURACY,
        "paper_test_accuracy": PAPER_TEST_ACCURACY,
        "train_sentences": len(splits["train"]),
        "settings": {
            "units": UNITS,
            "dropout": DROPOUT,
            "batch": BATCH,
            "learning_rate": LEARNING_RATE,
            "char_embedding_dim": CHAR_EMBEDDING_DIM,
            "char_units": CHAR_UNITS,
            "glove_extra_words": GLOVE_EXTRA_WORDS,
            "buckets": BUCKETS,
            "pad_multiple": args.pad_multiple,
        },
        "glove_coverage": report.coverage,
        "total_wall_s": time.perf_counter() - started,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
    }
    path = args.json or f"benchmarks/out/ud_pos_{args.cells.replace(',', '_')}.json"
    write_json(path, summary)


if __name__ == "__main__":
    main()
