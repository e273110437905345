"""Training and evaluation of the three tasks from data files, as `lstm-zoo train` and
`lstm-zoo evaluate` run them.

Every task reads local files (or a tensorflow-datasets name for sentiment and tagging),
builds the vocabulary from the training split, trains with `model.fit` and writes a run
directory (`lstm_zoo.runs`): the model, the vocabulary, checkpoints per epoch, TensorBoard logs,
history.csv and training_curves.png.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import keras
import numpy as np

from lstm_zoo.runs import Run, load_run, save_run

TASK_NAMES = ("lm", "sentiment", "tagger")
UNK = "<unk>"


@dataclass
class TrainOptions:
    """What `train` takes besides the task: data, model and training settings.

    Data: `train_path`, `valid_path`, `test_path` (local files), or `tfds_name` (+ `data_dir`).
    Model: `cell` (registry name), `preset`, `units`, `num_layers`, `bidirectional`
    (sentiment), `crf` and `char_features` (tagger), `embeddings_path` (vector file), `level`
    ("word"/"char", lm), `lowercase`, `max_vocabulary`. Training: `epochs` (default: the
    preset's, or 3), `batch_size`, `num_steps` (lm), `learning_rate`, `seed`.
    """

    train_path: str | None = None
    valid_path: str | None = None
    test_path: str | None = None
    tfds_name: str | None = None
    data_dir: str | None = None
    cell: str = "lstm"
    preset: str | None = None
    epochs: int | None = None
    units: int | None = None
    num_layers: int | None = None
    batch_size: int | None = None
    num_steps: int | None = None
    max_vocabulary: int | None = None
    level: str = "word"
    lowercase: bool = False
    embeddings_path: str | None = None
    bidirectional: bool = False
    crf: bool = False
    char_features: bool = False
    learning_rate: float | None = None
    seed: int = 0


def train(task, output="runs/latest", verbose=1, log=print, **options):
    """Train `task` ("lm", "sentiment" or "tagger") and write the run directory `output`.

    Args:
        **options: the fields of `TrainOptions`.

    Returns:
        (Run, model, keras History).
    """
    if task not in TASK_NAMES:
        raise ValueError(f"task must be one of {', '.join(TASK_NAMES)}; got {task!r}")
    unknown = sorted(set(options) - {f.name for f in fields(TrainOptions)})
    if unknown:
        raise ValueError(f"unknown training options: {', '.join(unknown)}")
    o = TrainOptions(**options)
    if o.train_path is None and o.tfds_name is None:
        raise ValueError("give training data: a local file (--train) or a tfds name (--tfds)")
    keras.utils.set_random_seed(o.seed)
    settings = {
        "cell": o.cell,
        "preset": o.preset,
        **{
            k: str(v) if v else None
            for k, v in (("train", o.train_path), ("valid", o.valid_path), ("test", o.test_path))
        },
        "tfds": o.tfds_name,
        "seed": o.seed,
    }
    trainer = {"lm": _train_language_model, "sentiment": _train_sentiment, "tagger": _train_tagger}
    arguments = {k: v for k, v in asdict(o).items() if k not in ("epochs", "seed")}
    run, model, data = trainer[task](**arguments, settings=settings, log=log)
    epochs = o.epochs or data.pop("epochs", 3)
    data.pop("epochs", None)
    output = Path(output)
    save_run(output, run)  # vocabulary first: a crash mid-training keeps a readable run
    history = model.fit(
        data["train"],
        validation_data=data.get("valid"),
        epochs=epochs,
        verbose=verbose,
        shuffle=False,  # tf.data pipelines shuffle themselves; LM windows must stay in order
        callbacks=_callbacks(output, data.pop("callbacks", [])),
    )
    run.settings["epochs"] = epochs
    run.metrics = {k: float(v[-1]) for k, v in history.history.items()}
    if data.get("test") is not None:
        test = _evaluate(run, model, data["test"])
        run.metrics.update({f"test_{k}": v for k, v in test.items()})
        log("test: " + ", ".join(f"{k} {v:.4f}" for k, v in test.items()))
    save_run(output, run, model)
    return run, model, history


def evaluate(run_directory, data_path, log=print):
    """Metrics of a trained run on a data file of its task (same format as its training)."""
    run, model = load_run(run_directory)
    data = _dataset_for(run, model, data_path)
    metrics = _evaluate(run, model, data)
    log(", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    return metrics


def _callbacks(output, extra):
    from lstm_zoo.plots import TrainingCurvesPNG

    (output / "checkpoints").mkdir(parents=True, exist_ok=True)
    return [
        *extra,
        keras.callbacks.ModelCheckpoint(str(output / "checkpoints" / "epoch-{epoch:03d}.keras")),
        keras.callbacks.TensorBoard(str(output / "logs")),
        keras.callbacks.CSVLogger(str(output / "history.csv")),
        TrainingCurvesPNG(str(output / "training_curves.png")),
    ]


def _evaluate(run, model, data):
    if run.task == "tagger" and model.__class__.__name__ == "CRFTagger":
        return {"accuracy": _crf_accuracy(model, data)}
    callbacks = []
    if run.task == "lm":
        from lstm_zoo.models import ResetStatesAtEpochAndEvaluation

        callbacks = [ResetStatesAtEpochAndEvaluation()]
    result = model.evaluate(data, verbose=0, return_dict=True, callbacks=callbacks)
    return {k: float(v) for k, v in result.items()}


def _crf_accuracy(model, data):
    correct = total = 0
    for x, y in data:
        tags = model.predict_tags(x, verbose=0)
        mask = np.asarray(x["tokens"] if isinstance(x, dict) else x) != 0
        correct += int((np.asarray(tags) == np.asarray(y))[mask].sum())
        total += int(mask.sum())
    return correct / max(total, 1)


# ------------------------------------------------------------------ language models


def lm_vocabulary(tokens, max_size=None):
    """A `Vocabulary` of the training tokens that always holds `<unk>` (unknown words of
    later files map to it; with `max_size` the rarest words do too)."""
    from lstm_zoo.data import Vocabulary

    vocabulary = Vocabulary.from_tokens(tokens, max_size=None if max_size is None else max_size - 1)
    if UNK not in vocabulary.index:
        vocabulary = Vocabulary(vocabulary.tokens + [UNK])
    return vocabulary


def _train_language_model(
    train_path,
    valid_path,
    test_path,
    tfds_name,
    cell,
    preset,
    units,
    num_layers,
    batch_size,
    num_steps,
    max_vocabulary,
    level,
    learning_rate,
    settings,
    log,
    **_,
):
    from lstm_zoo.data import lm_windows, read_lm_tokens
    from lstm_zoo.models import (
        EpochLearningRateDecay,
        ResetStatesAtEpochAndEvaluation,
        compile_language_model,
        language_model,
        language_model_preset,
    )

    if tfds_name:
        raise ValueError("language models train on local text files (--train); not on tfds")
    arguments = language_model_preset(preset or "ptb-small")
    model_args, training = arguments["model"], arguments["training"]
    model_args.update({k: v for k, v in (("units", units), ("num_layers", num_layers)) if v})
    batch_size = batch_size or training["batch_size"]
    num_steps = num_steps or training["num_steps"]
    train_tokens = read_lm_tokens(train_path, level=level)
    vocabulary = lm_vocabulary(train_tokens, max_vocabulary)
    log(f"{train_path}: {len(train_tokens):,} tokens, vocabulary {len(vocabulary):,}")

    def windows(path, tokens=None):
        tokens = tokens if tokens is not None else read_lm_tokens(path, level=level)
        try:
            return lm_windows(vocabulary.encode(tokens), batch_size, num_steps)
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None

    data = {"train": windows(train_path, train_tokens), "epochs": training["epochs"]}
    data["valid"] = windows(valid_path) if valid_path else None
    data["test"] = windows(test_path) if test_path else None
    model = language_model(
        len(vocabulary),
        cell=cell,
        batch_size=batch_size,
        num_steps=num_steps,
        stateful=True,
        **model_args,
    )
    compile_language_model(
        model,
        learning_rate or training["learning_rate"],
        training["max_grad_norm"],
        num_steps=num_steps,
    )
    data["callbacks"] = [
        ResetStatesAtEpochAndEvaluation(),
        EpochLearningRateDecay(
            float(model.optimizer.learning_rate.numpy()),
            training["lr_decay"],
            training["decay_after_epoch"],
        ),
    ]
    settings.update(model_args, batch_size=batch_size, num_steps=num_steps, level=level)
    end_token = "<eos>" if level == "word" else None
    run = Run("lm", vocabulary.tokens, level=level, end_token=end_token, settings=settings)
    return run, model, data


# ------------------------------------------------------------------ sentiment


def read_classification_file(path):
    """(texts, label ids, label names) of an SST-style `LABEL text` file or a CSV with
    `review`/`label` columns (IMDB: neg/pos)."""
    from lstm_zoo.data.classification import read_label_text_lines, read_text_label_csv

    name = str(path)
    if name.endswith((".csv", ".csv.gz")):
        texts, labels = read_text_label_csv(path)
        return texts, labels, ["neg", "pos"]
    texts, labels = read_label_text_lines(path)
    return texts, labels, ["0", "1"]


def _read_tfds_classification(name, split, data_dir):
    from lstm_zoo.data.tfds import load_tfds

    dataset = load_tfds(name, split=split, data_dir=data_dir)
    texts, labels = [], []
    for text, label in dataset.as_numpy_iterator():
        texts.append(text.decode("utf-8").replace("<br />", " "))
        labels.append(int(label))
    return texts, np.array(labels, dtype=np.int32), ["0", "1"]


def _train_sentiment(
    train_path,
    valid_path,
    test_path,
    tfds_name,
    data_dir,
    cell,
    preset,
    units,
    num_layers,
    batch_size,
    max_vocabulary,
    lowercase,
    embeddings_path,
    bidirectional,
    learning_rate,
    settings,
    log,
    **_,
):
    from lstm_zoo.data.classification import build_vocabulary
    from lstm_zoo.models import (
        compile_sentiment_classifier,
        sentiment_classifier,
        sentiment_classifier_from_preset,
    )

    if tfds_name:
        splits = {"train": "train", "valid": None, "test": "test"}
        read = {
            k: _read_tfds_classification(tfds_name, s, data_dir) for k, s in splits.items() if s
        }
    else:
        read = _read_splits(read_classification_file, train_path, valid_path, test_path)
    texts, _, label_names = read["train"]
    vocabulary = build_vocabulary(texts, max_size=max_vocabulary, lowercase=lowercase)
    log(f"training texts {len(texts):,}, vocabulary {len(vocabulary):,}")
    matrix = _pretrained_vectors(embeddings_path, vocabulary, log)
    batch_size = batch_size or 32
    run = Run("sentiment", vocabulary, labels=label_names, lowercase=lowercase, settings=settings)
    data = {
        k: _dataset_for(run, None, None, (t, y), batch_size, shuffle=k == "train")
        for k, (t, y, _) in read.items()
    }
    data["epochs"] = 3
    shape = {"embeddings": matrix, "vocab_size": None if matrix is not None else len(vocabulary)}
    if preset:
        overrides = {"cell": cell, **({"units": units} if units else {})}
        model = sentiment_classifier_from_preset(preset, **shape, **overrides)
    else:
        model = sentiment_classifier(
            **shape,
            cell=cell,
            units=units or 64,
            num_layers=num_layers or 1,
            bidirectional=bidirectional,
        )
    compile_sentiment_classifier(model, learning_rate or 1e-3)
    settings.update(units=units, bidirectional=bidirectional, embeddings=embeddings_path)
    return run, model, data


# ------------------------------------------------------------------ tagging


def read_tagged_file(path):
    """Tagged sentences of a CoNLL-U file (`.conllu`, UPOS) or a CoNLL-2003 column file."""
    from lstm_zoo.data.conll import read_conll_columns, read_conllu

    if str(path).endswith((".conllu", ".conllu.gz")):
        return read_conllu(path)
    return read_conll_columns(path)


def _train_tagger(
    train_path,
    valid_path,
    test_path,
    tfds_name,
    cell,
    units,
    num_layers,
    batch_size,
    max_vocabulary,
    lowercase,
    embeddings_path,
    crf,
    char_features,
    learning_rate,
    settings,
    log,
    **_,
):
    from lstm_zoo.data.tagging import build_tagging_vocabularies
    from lstm_zoo.models.tagger import compile_tagger, sequence_tagger

    if tfds_name:
        raise ValueError(
            "tagging trains on local files here (--train x.conllu or a CoNLL-2003 file); "
            "tfds conll2003 sentences: lstm_zoo.data.tfds.load_tfds('conll2003')"
        )
    read = _read_splits(read_tagged_file, train_path, valid_path, test_path)
    words, tags = build_tagging_vocabularies(
        read["train"], max_words=max_vocabulary, lowercase=lowercase
    )
    log(f"training sentences {len(read['train']):,}, words {len(words):,}, tags {len(tags)}")
    matrix = _pretrained_vectors(embeddings_path, words, log)
    batch_size = batch_size or 32
    characters = None
    if char_features:
        from lstm_zoo.data.tagging import build_character_vocabulary

        characters = build_character_vocabulary(read["train"])
    run = Run(
        "tagger", words, labels=tags, lowercase=lowercase, characters=characters, settings=settings
    )
    data = {
        k: _dataset_for(run, None, None, s, batch_size, shuffle=k == "train")
        for k, s in read.items()
    }
    data["epochs"] = 3
    model = sequence_tagger(
        len(tags),
        vocab_size=None if matrix is not None else len(words),
        embeddings=matrix,
        cell=cell,
        units=units or 100,
        num_layers=num_layers or 1,
        crf=crf,
        char_features=char_features,
        char_vocab_size=len(characters) if characters else None,
    )
    compile_tagger(model, learning_rate or 1e-3)
    settings.update(units=units, crf=crf, char_features=char_features, embeddings=embeddings_path)
    return run, model, data


# ------------------------------------------------------------------ data for a run


def _read_splits(reader, train_path, valid_path, test_path):
    """{"train": ..., "valid": ..., "test": ...} of the given files through `reader`."""
    paths = {"train": train_path, "valid": valid_path, "test": test_path}
    return {key: reader(path) for key, path in paths.items() if path}


def _pretrained_vectors(path, vocabulary, log):
    """The [vocabulary, dim] matrix of a vector file (0 padding, 1 unknown), or None."""
    if not path:
        return None
    from lstm_zoo.embeddings import load_embeddings

    matrix, report = load_embeddings(path, vocabulary, reserved=2, lowercase_fallback=True)
    log(str(report))
    return matrix


def _dataset_for(run, model, path, examples=None, batch_size=None, shuffle=False):
    """The tf.data batches of `path` (or of already-read examples) for a run's task."""
    if run.task == "lm":
        from lstm_zoo.data import Vocabulary, lm_windows, read_lm_tokens

        batch, steps = model.input_shape[0], model.input_shape[1]
        tokens = read_lm_tokens(path, level=run.level)
        return lm_windows(Vocabulary(run.vocabulary).encode(tokens), batch, steps)
    if run.task == "sentiment":
        from lstm_zoo.data.classification import classification_dataset, encode_texts

        texts, labels = examples if examples is not None else read_classification_file(path)[:2]
        encoded = encode_texts(texts, run.vocabulary, lowercase=run.lowercase)
        return classification_dataset(encoded, labels, batch_size or 32, shuffle=shuffle)
    from lstm_zoo.data.tagging import encode_tagged, tagging_dataset

    sentences = examples if examples is not None else read_tagged_file(path)
    word_ids, tag_ids = encode_tagged(sentences, run.vocabulary, run.labels, run.lowercase)
    char_ids = None
    if run.characters:
        from lstm_zoo.data.tagging import encode_characters

        char_ids = encode_characters(sentences, run.characters)
    return tagging_dataset(word_ids, tag_ids, batch_size or 32, shuffle=shuffle, char_ids=char_ids)
