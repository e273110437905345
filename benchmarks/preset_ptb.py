"""Trainer of the bundled `ptb-word-lstm` preset (run through benchmarks/train_presets.py).

Zaremba et al. (2014) small, as the TensorFlow PTB tutorial trains it (2 x 200 `zoo_lstm`,
20 x 20 truncated BPTT with the state carried over one stream, SGD at 1.0 on the tutorial's
summed loss, halved each epoch after epoch 4, clip 5, uniform +-0.1), with the output layer
tied to the embedding (Press & Wolf 2017): 2.66 M weights instead of 4.66 M, so the preset in
float16 fits the 8 MB limit. Validation after each epoch picks the epoch kept; the test split
is scored once, with the training window shape and state carried (`stream_perplexity`), in
float32 and again after the float16 round trip of the stored weights.
"""

from __future__ import annotations

import time

import keras

from lstm_zoo.data import dataset_path, lm_windows, read_lm_tokens
from lstm_zoo.models import (
    EpochLearningRateDecay,
    LanguageModel,
    ResetStatesAtEpochAndEvaluation,
    compile_language_model,
    language_model,
)
from lstm_zoo.text import Vocabulary

PTB = {
    "model": {
        "cell": "zoo_lstm",
        "units": 200,
        "num_layers": 2,
        "dropout": 0.0,
        "init_scale": 0.1,
        "tie_embeddings": True,
    },
    "batch_size": 20,
    "num_steps": 20,
    "epochs": 13,
    "learning_rate": 1.0,
    "lr_decay": 0.5,
    "decay_after_epoch": 4,
    "max_grad_norm": 5.0,
    "budget_s": 2700,  # 45 min: the schedule's later epochs gain tenths (RESULTS.md)
}
SLICE_TOKENS = 20_000  # the bundled-preset test re-measures the first 20,000 test tokens


class EpochTimes(keras.callbacks.Callback):
    """Wall seconds of every epoch (validation included), and a stop once `budget_s` passed."""

    def __init__(self, budget_s):
        super().__init__()
        self.budget_s, self.times, self.started = budget_s, [], None

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(round(time.perf_counter() - self.epoch_started, 1))
        print(f"epoch {epoch + 1}: {self.times[-1]} s, {logs}", flush=True)
        if time.perf_counter() - self.started > self.budget_s:
            self.model.stop_training = True


def train():
    tokens = {
        "train": read_lm_tokens(dataset_path("ptb", "ptb.train.txt.gz")),
        "valid": read_lm_tokens(dataset_path("ptb", "ptb.valid.txt")),
        "test": read_lm_tokens(dataset_path("ptb", "ptb.test.txt")),
    }
    vocabulary = Vocabulary.build([tokens["train"]], reserved=("<eos>",))
    ids = {name: vocabulary.encode(words) for name, words in tokens.items()}
    batch, steps = PTB["batch_size"], PTB["num_steps"]
    windows = {name: lm_windows(stream, batch, steps) for name, stream in ids.items()}

    stateful = language_model(
        len(vocabulary), batch_size=batch, num_steps=steps, stateful=True, **PTB["model"]
    )
    compile_language_model(
        stateful,
        PTB["learning_rate"],
        PTB["max_grad_norm"],
        num_steps=steps,
        steps_per_execution=50,
    )
    schedule = EpochLearningRateDecay(
        float(stateful.optimizer.learning_rate.numpy()), PTB["lr_decay"], PTB["decay_after_epoch"]
    )
    best = keras.callbacks.EarlyStopping(
        "val_perplexity", mode="min", patience=PTB["epochs"], restore_best_weights=True
    )
    times = EpochTimes(PTB["budget_s"])
    history = stateful.fit(
        windows["train"],
        validation_data=windows["valid"],
        epochs=PTB["epochs"],
        shuffle=False,
        verbose=2,
        callbacks=[ResetStatesAtEpochAndEvaluation(), schedule, best, times],
    ).history

    model = LanguageModel.build(vocabulary, level="word", end_token="<eos>", **PTB["model"])
    model.backbone.set_weights(stateful.get_weights())
    model.compile_default()
    scored = {
        "valid_perplexity": model.stream_perplexity(ids["valid"], batch, steps),
        "test_perplexity": model.stream_perplexity(ids["test"], batch, steps),
        f"test_perplexity_first_{SLICE_TOKENS}": model.stream_perplexity(
            ids["test"][:SLICE_TOKENS], batch, steps
        ),
    }
    half = _float16_rounded(model)
    scored_half = {
        "test_perplexity": half.stream_perplexity(ids["test"], batch, steps),
        f"test_perplexity_first_{SLICE_TOKENS}": half.stream_perplexity(
            ids["test"][:SLICE_TOKENS], batch, steps
        ),
    }
    metrics = {k: round(v, 2) for k, v in scored_half.items()}
    metrics["valid_perplexity"] = round(scored["valid_perplexity"], 2)
    metadata = {
        "description": "PTB word LM, Zaremba et al. small: embedding 200 -> 2 x zoo_lstm 200 -> "
        "logits through the tied (transposed) embedding; text as PTB tokenizes it (lowercase "
        "words, <unk>, N, <eos> at line ends)",
        "data": {
            "train": f"ptb/ptb.train.txt.gz ({len(ids['train']):,} tokens with <eos>)",
            "validation": f"ptb/ptb.valid.txt ({len(ids['valid']):,}; best epoch kept)",
            "test": f"ptb/ptb.test.txt ({len(ids['test']):,}; scored once)",
            "vocabulary": f"{len(vocabulary) - 2:,} PTB words (+ <pad>, <unk> is PTB's own)",
        },
        "scoring": f"stream_perplexity: {batch} x {steps} windows, state carried (as the "
        "TensorFlow PTB tutorial, whose small model scores 115.9 test)",
        "data_license": "Penn Treebank (Mikolov's preprocessed PTB, LDC-derived; research use)",
        "test_split": "ptb/ptb.test.txt",
        "weights_dtype": "float16",
        "float16": {
            "float32_metrics": {k: round(v, 2) for k, v in scored.items()},
            "float16_metrics": metrics,
            "note": "weights stored as float16; the metrics are those of the stored weights",
        },
        "history": {k: [round(float(v), 3) for v in vs] for k, vs in history.items()},
        "epoch_seconds": times.times,
        "settings": PTB,
    }
    return model, metrics, metadata


def _float16_rounded(model):
    """A copy of `model` whose weights went through float16 (what the preset stores)."""
    copy = LanguageModel.build(
        model.preprocessor.vocabulary, level="word", end_token="<eos>", **PTB["model"]
    )
    copy.backbone.set_weights(
        [w.astype("float16").astype("float32") for w in model.backbone.get_weights()]
    )
    copy.compile_default()
    return copy
