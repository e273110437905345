"""Trainer of the bundled `imdb-bilstm` preset (run through benchmarks/train_presets.py).

Whole IMDB reviews (Maas et al. 2011; no review cut; `read_text_label_csv` turns the `<br />`
line breaks into spaces) -> the shared lstm_zoo.text rule (lowercased, level "word_punct":
ASCII punctuation split off, which takes GloVe's coverage of the vocabulary from 43 % of
89,960 whitespace tokens to 94 % of 45,135) -> GloVe 6B 50d,
fine-tuned -> bidirectional zoo_lstm 64 -> masked max pooling -> sigmoid. 2,500 training
reviews held out (seed 0) pick the epoch; the 25,000 test reviews are scored once. Batches
come from a user-style tf.data pipeline of ids bucketed by length
(`classification_dataset(bucket_boundaries=...)`); the zoo layer runs every length as it comes
(native CPU kernel, no compile per length). Weights are stored as float16 and the metrics are
those of the stored weights (float32 figures beside them in metadata.json).
"""

from __future__ import annotations

import tempfile

import keras
import numpy as np

from lstm_zoo.data import dataset_path
from lstm_zoo.data.batching import length_bucket_boundaries
from lstm_zoo.data.classification import classification_dataset, read_text_label_csv
from lstm_zoo.embeddings import load_embeddings
from lstm_zoo.models import TextClassifier
from lstm_zoo.presets import from_preset, save_to_preset
from lstm_zoo.text import Vocabulary

IMDB = {
    "labels": ["negative", "positive"],
    "model": {
        "cell": "zoo_lstm",
        "bidirectional": True,
        "units": 64,
        "pooling": "max",
        "embedding_dropout": 0.2,
        "dropout": 0.5,
        "trainable_embeddings": True,
    },
    "level": "word_punct",
    "min_count": 2,  # vocabulary: training tokens seen at least twice
    "dev_size": 2500,
    "buckets": 16,
    "epochs": 5,
    "batch_size": 32,
    "learning_rate": 2e-3,
    "halve_learning_rate_after_epoch": 2,  # then halved every epoch (annealing)
}
SLICE_STEP = 25  # the bundled-preset test re-measures every 25th test review (1,000)


def read_imdb():
    """{"train", "dev", "test"}: (texts, labels 0/1) with the dev reviews held out of train."""
    folder = dataset_path("imdb")
    texts, labels = read_text_label_csv(folder / "imdb_train.csv.gz")
    test_texts, test_labels = read_text_label_csv(folder / "imdb_test.csv.gz")
    order = np.random.RandomState(0).permutation(len(texts))
    dev, train = order[: IMDB["dev_size"]], order[IMDB["dev_size"] :]
    pick = lambda rows: ([texts[i] for i in rows], np.asarray(labels)[rows])  # noqa: E731
    return {"train": pick(train), "dev": pick(dev), "test": (test_texts, np.asarray(test_labels))}


def id_pipelines(model, splits, boundaries=None):
    """Length-bucketed tf.data pipelines of (ids, labels), one per split, and the boundaries."""
    encoded = {name: model.preprocessor.encode(texts) for name, (texts, _) in splits.items()}
    if boundaries is None:
        lengths = np.array([len(ids) for ids in encoded["train"]])
        boundaries = length_bucket_boundaries(lengths, IMDB["buckets"])
    return {
        name: classification_dataset(
            encoded[name],
            splits[name][1],
            IMDB["batch_size"],
            shuffle=name == "train",
            seed=0,
            bucket_boundaries=boundaries,
        )
        for name in splits
    }, boundaries


def accuracy(model, data):
    return float(model.evaluate(data, verbose=0, return_dict=True)["binary_accuracy"])


def train():
    from train_presets import annealing  # the script's folder is on sys.path

    splits = read_imdb()
    token_lists = [_tokens(text) for text in splits["train"][0]]
    vocabulary = Vocabulary.build(token_lists, min_count=IMDB["min_count"])
    glove = dataset_path("glove", "glove.6B.50d.txt.gz")
    matrix, report = load_embeddings(glove, vocabulary.tokens, reserved=2)
    model = TextClassifier.build(
        vocabulary,
        IMDB["labels"],
        lowercase=True,
        level=IMDB["level"],
        embeddings=matrix,
        **IMDB["model"],
    )
    model.compile_default(IMDB["learning_rate"])
    data, boundaries = id_pipelines(model, splits)
    best = keras.callbacks.EarlyStopping(
        "val_binary_accuracy", mode="max", patience=IMDB["epochs"], restore_best_weights=True
    )
    history = model.fit(
        data["train"],
        validation_data=data["dev"],
        epochs=IMDB["epochs"],
        callbacks=[best, annealing(IMDB)],
        verbose=2,
    ).history
    scored = {
        "test_accuracy": accuracy(model, data["test"]),
        "dev_accuracy": accuracy(model, data["dev"]),
    }
    half = float16_copy(model)
    first = {"test": (splits["test"][0][::SLICE_STEP], splits["test"][1][::SLICE_STEP])}
    half_data, _ = id_pipelines(half, {"test": splits["test"], "dev": splits["dev"]}, boundaries)
    metrics = {
        "test_accuracy": round(accuracy(half, half_data["test"]), 4),
        "dev_accuracy": round(accuracy(half, half_data["dev"]), 4),
        f"test_accuracy_every_{SLICE_STEP}th": round(
            float(np.mean(np.array(half.predict_labels(first["test"][0])) == _names(first))), 4
        ),
    }
    lengths = np.array([len(t) for t in token_lists])
    metadata = {
        "description": "IMDB review sentiment: GloVe 6B 50d (fine-tuned) -> BiLSTM (zoo_lstm) 64 "
        "-> masked max pooling -> sigmoid; whole reviews, raw text (lstm_zoo.text rule, "
        "lowercased, ASCII punctuation split off: level word_punct)",
        "data": {
            "train": f"imdb/imdb_train.csv.gz less the dev reviews ({len(token_lists):,} reviews, "
            f"tokens mean {lengths.mean():.0f}, max {lengths.max():,}; none cut)",
            "validation": f"{IMDB['dev_size']:,} reviews of imdb_train.csv.gz (seed 0; best epoch)",
            "test": "imdb/imdb_test.csv.gz (25,000 reviews; scored once)",
            "vocabulary": f"{len(vocabulary):,} ids: training tokens seen >= {IMDB['min_count']}x",
            "embeddings": f"glove/glove.6B.50d.txt.gz ({report.found} of "
            f"{report.vocabulary_size} words found)",
        },
        "data_license": "IMDB Large Movie Review Dataset (Maas et al. 2011; research use); "
        "GloVe 6B: PDDL 1.0",
        "test_split": "imdb/imdb_test.csv.gz",
        "weights_dtype": "float16",
        "float16": {
            "float32_metrics": {k: round(v, 4) for k, v in scored.items()},
            "note": "weights stored as float16; the metrics are those of the stored weights",
        },
        "bucket_boundaries": [int(b) for b in boundaries],
        "history": {k: [round(float(v), 4) for v in vs] for k, vs in history.items()},
        "settings": IMDB,
    }
    return model, metrics, metadata


def float16_copy(model):
    """`model` after the float16 round trip of its weights (what the preset ships)."""
    with tempfile.TemporaryDirectory() as folder:
        save_to_preset(model, f"{folder}/p", weights_dtype="float16")
        return from_preset(f"{folder}/p")


def _tokens(text):
    from lstm_zoo.text import tokenize

    return tokenize(text, lowercase=True, level=IMDB["level"])


def _names(split):
    return np.array(IMDB["labels"])[np.asarray(split["test"][1])]
