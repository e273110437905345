"""Trainer of the bundled `ewt-upos-bilstm` preset: UD English EWT UPOS, a `SequenceTagger`
over GloVe 6B 50d words (lowercased, fine-tuned) + character features (case kept).

Run: `python benchmarks/train_presets.py ewt-upos-bilstm` (`train()` is called from there).
The tagger takes the CoNLL-U words as they are (pre-split) through its own preprocessor; the
best dev epoch is kept and the test split scored once, as exact token accuracy.
"""

from __future__ import annotations

import gzip
import tempfile
import time

import keras
import tensorflow as tf

from lstm_zoo.data import dataset_path
from lstm_zoo.data.conll import read_conllu
from lstm_zoo.data.tagging import build_character_vocabulary, build_tagging_vocabularies
from lstm_zoo.embeddings import load_embeddings
from lstm_zoo.models import SequenceTagger
from lstm_zoo.text import Vocabulary

EWT = {
    "model": {
        "cell": "zoo_lstm",  # native CPU kernel: no retracing on variable lengths
        "units": 100,
        "dropout": 0.33,
        "char_embedding_dim": 30,
        "char_units": 50,
    },
    "glove_extra_words": 20_000,  # GloVe's most frequent words besides the training words
    "epochs": 12,
    "batch_size": 32,
    "learning_rate": 2e-3,
    "halve_learning_rate_after_epoch": 6,  # then halved every epoch (annealing)
    "budget_s": 2400,
    "weights_dtype": "float16",
    "slice": 500,  # first test sentences re-measured by tests/test_bundled_presets.py
}


def _glove_head(path, count):
    words = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            words.append(line.split(" ", 1)[0])
            if len(words) == count:
                break
    return words


def _dataset(sentences, batch_size, shuffle=False):
    words = tf.ragged.constant([w for w, _ in sentences], dtype=tf.string)
    tags = tf.ragged.constant([t for _, t in sentences], dtype=tf.string)
    data = tf.data.Dataset.from_tensor_slices((words, tags))
    if shuffle:
        data = data.shuffle(len(sentences), seed=0, reshuffle_each_iteration=True)
    return data.ragged_batch(batch_size).prefetch(tf.data.AUTOTUNE)


def token_accuracy(model, sentences):
    """Exact token accuracy (correct / tokens) of `model.predict_tags`."""
    guesses = model.predict_tags([w for w, _ in sentences], batch_size=64)
    right = sum(g == t for (_, tags), guess in zip(sentences, guesses) for g, t in zip(guess, tags))
    return right / sum(len(t) for _, t in sentences)


def train():
    from train_presets import TimeBudget, _rounded, annealing

    folder = dataset_path("ud_en_ewt")
    splits = {
        "train": read_conllu(folder / "en_ewt-ud-train.conllu.gz"),
        "dev": read_conllu(folder / "en_ewt-ud-dev.conllu"),
        "test": read_conllu(folder / "en_ewt-ud-test.conllu"),
    }
    tags = build_tagging_vocabularies(splits["train"])[1]
    words = build_tagging_vocabularies(splits["train"], lowercase=True)[0]
    glove = dataset_path("glove", "glove.6B.50d.txt.gz")
    known = set(words)
    words += [w for w in _glove_head(glove, EWT["glove_extra_words"]) if w not in known]
    matrix, report = load_embeddings(glove, words, reserved=2, lowercase_fallback=True)
    characters = ["<pad>", "<unk>", *build_character_vocabulary(splits["train"])[2:]]
    model = SequenceTagger.build(
        Vocabulary.from_legacy(words),
        tags,
        lowercase=True,
        characters=characters,
        embeddings=matrix,
        **EWT["model"],
    )
    model.compile_default(EWT["learning_rate"])
    budget = TimeBudget(EWT["budget_s"])
    best = keras.callbacks.EarlyStopping(
        "val_sparse_categorical_accuracy",
        mode="max",
        patience=EWT["epochs"],
        restore_best_weights=True,
    )
    epoch_times = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: epoch_times.append(time.perf_counter()),
        on_epoch_end=lambda e, logs: epoch_times.__setitem__(
            -1, round(time.perf_counter() - epoch_times[-1], 1)
        ),
    )
    history = model.fit(
        _dataset(splits["train"], EWT["batch_size"], shuffle=True),
        validation_data=_dataset(splits["dev"], 64),
        epochs=EWT["epochs"],
        callbacks=[budget, best, timer, annealing(EWT)],
        verbose=2,
    ).history
    test = splits["test"]
    metrics = {
        "test_accuracy": round(token_accuracy(model, test), 5),
        "dev_accuracy": round(token_accuracy(model, splits["dev"]), 5),
        f"test_accuracy_first_{EWT['slice']}": round(
            token_accuracy(model, test[: EWT["slice"]]), 5
        ),
    }
    with tempfile.TemporaryDirectory() as tmp:  # the float16 preset scored as it ships
        from lstm_zoo.presets import save_to_preset

        save_to_preset(model, f"{tmp}/p16", weights_dtype="float16")
        half = SequenceTagger.from_preset(f"{tmp}/p16")
        metrics["test_accuracy_float16"] = round(token_accuracy(half, test), 5)
        metrics[f"test_accuracy_first_{EWT['slice']}_float16"] = round(
            token_accuracy(half, test[: EWT["slice"]]), 5
        )
    metadata = {
        "description": "UD English EWT UPOS: GloVe 6B 50d (lowercased words, fine-tuned) + "
        "character BiLSTM 50 (case kept) -> BiLSTM 100 -> softmax over 17 UPOS tags",
        "data": {
            "train": f"ud_en_ewt/en_ewt-ud-train.conllu.gz ({len(splits['train']):,} sentences)",
            "validation": f"ud_en_ewt/en_ewt-ud-dev.conllu ({len(splits['dev']):,}; best "
            "dev epoch kept)",
            "test": f"ud_en_ewt/en_ewt-ud-test.conllu ({len(test):,}; scored once)",
            "embeddings": f"glove/glove.6B.50d.txt.gz ({report})",
        },
        "data_license": "UD English EWT: CC BY-SA 4.0; GloVe 6B: PDDL 1.0",
        "test_split": "ud_en_ewt/en_ewt-ud-test.conllu",
        "history": _rounded(history),
        "epoch_times_s": epoch_times,
        "budget_stopped_at_batch": budget.stopped_at,
        "weights_dtype": EWT["weights_dtype"],
        "float16_vs_float32_test_points": round(
            100 * (metrics["test_accuracy_float16"] - metrics["test_accuracy"]), 3
        ),
        "settings": EWT,
    }
    return model, metrics, metadata
