"""`lstm-zoo evaluate`, `generate`, `export`, `inspect` and `train --from-preset` on a task
model: a preset (a bundled name or a preset directory, `lstm_zoo.presets`) or a run directory
of `lstm-zoo train` (`lstm_zoo.runs.load_task_model`), both loaded by `load` as the same
`TextClassifier`, `SequenceTagger` or `LanguageModel`, so every command has one path.

The data files are those of `lstm-zoo train` per task:

- text classifier: `LABEL text` lines (space or tab after the label; the label a class name
  of the preset or its id, so SST's `0`/`1` lines score `negative`/`positive`), or a CSV with
  `review,label` columns;
- sequence tagger: CoNLL-U (`.conllu`, UPOS) or CoNLL-2003 columns (word first, tag last);
- language model: plain UTF-8 text. Character level: one stream, scored in windows of
  `num_steps` characters, the state reset at each (as the bundled preset was trained). Word
  level: one stream of every nonblank line's tokens with the model's end token after each
  line (PTB's `<eos>`), cut into `batch_size` rows and scored `num_steps` tokens at a time
  with the state carried (`LanguageModel.stream_perplexity`, as Zaremba et al. and the
  ptb-word-lstm preset's reported perplexity). The window shape is the call's, else the
  preset's training settings (metadata.json), else `LM_WINDOW`.

A bad file is a ValueError naming the file and line (or sentence). Fine-tuning keeps the
preset's vocabulary and encoder; a label or tag set other than the preset's builds a new head
(`from_preset(labels=...)` / `from_preset(tags=...)`), and the result is a preset directory
(`save_to_preset`) that `evaluate`, `from_preset` and `export` read.

Example:

>>> from lstm_zoo.preset_commands import evaluate_preset
>>> evaluate_preset("sst2-bilstm", "sst2/stsa.binary.test")  # doctest: +SKIP
accuracy 0.8396, loss 0.4001
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import keras
import numpy as np

from lstm_zoo.data.classification import read_labelled_lines
from lstm_zoo.runs import TASK_CLASSES
from lstm_zoo.span_report import format_metrics, span_metrics, token_accuracy

TASK_OF_CLASS = {name: task for task, name in TASK_CLASSES.items()}  # "TextClassifier": ...
DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, DEFAULT_NUM_STEPS, DEFAULT_LEARNING_RATE = 32, 3, 64, 1e-3
# (rows, steps) of a language model's scoring windows when neither the call nor the preset's
# settings give them: ptb-small's 20 x 20 at word level, shakespeare-char-lstm's 64 x 64.
LM_WINDOW = {"word": (20, 20), "char": (64, 64)}


def is_preset(name_or_path):
    """True for a bundled preset name or a directory holding a preset's config.json (and no
    run.json: a run directory of `lstm-zoo train` is loaded by `runs.load_task_model`)."""
    path = Path(name_or_path)
    if path.is_dir():
        return (path / "config.json").is_file() and not (path / "run.json").is_file()
    from lstm_zoo.presets import available_presets

    return str(name_or_path) in available_presets()


def preset_config(preset):
    """A preset's config.json as a dict (ValueError naming the file when it is not one with a
    task class); `from_preset` checks the rest."""
    from lstm_zoo.presets import preset_path

    if (Path(preset) / "run.json").is_file() and not is_preset(preset):
        raise ValueError(
            f"{preset} is a run directory of lstm-zoo train, not a preset (fine-tuning takes "
            "a preset; a run trains again with lstm-zoo train)"
        )
    path = preset_path(preset) / "config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot be read as JSON ({error})") from None
    name = config.get("class_name") if isinstance(config, dict) else None
    if name not in TASK_OF_CLASS:
        raise ValueError(f"{path}: malformed (class_name {name!r} is not a task class)")
    return config


def preset_class_name(preset):
    """The task class named in a preset's config.json ("TextClassifier", ...)."""
    return preset_config(preset)["class_name"]


def is_char_language_model(preset):
    """True for a language-model preset at character level (its config.json says)."""
    config = preset_config(preset)
    settings = config.get("preprocessor")
    return config["class_name"] == "LanguageModel" and (settings or {}).get("level") == "char"


def load(preset, **overrides):
    """The task model of `preset` (`lstm_zoo.presets.from_preset`) or of a run directory of
    `lstm-zoo train` (`lstm_zoo.runs.load_task_model`; no overrides)."""
    from lstm_zoo.presets import from_preset

    if is_preset(preset):
        return from_preset(preset, **overrides)
    if not Path(preset).exists():
        from lstm_zoo.presets import available_presets

        raise ValueError(
            f"{preset}: neither a bundled preset ({', '.join(available_presets())}) nor a "
            "preset or run directory (no such directory)"
        )
    from lstm_zoo.runs import load_task_model

    return load_task_model(preset)[1]


def training_settings(preset):
    """The settings a preset (metadata.json) or a run directory (run.json) was trained with."""
    if is_preset(preset):
        from lstm_zoo.presets.io import load_metadata

        return load_metadata(preset).get("settings") or {}
    from lstm_zoo.runs import load_run

    return load_run(preset, with_model=False)[0].settings


# ------------------------------------------------------------------ reading files


def label_ids(labels, numbers, classes, path):
    """Class ids of labels written as class names or as ids; ValueError naming file:line."""
    index = {name: i for i, name in enumerate(classes)}
    ids = []
    for label, number in zip(labels, numbers):
        if label in index:
            ids.append(index[label])
        elif label.isdigit() and int(label) < len(classes):
            ids.append(int(label))
        else:
            raise ValueError(
                f"{path}:{number}: unknown label {label!r}; the labels are {list(classes)} "
                f"(or their ids 0 to {len(classes) - 1})"
            )
    return np.array(ids, dtype=np.int32)


def _fits(labels, classes):
    index = set(classes)
    return all(x in index or (x.isdigit() and int(x) < len(classes)) for x in labels)


def classification_examples(path, classes):
    """(texts, class ids) of a classification file scored against `classes`."""
    if str(path).endswith((".csv", ".csv.gz")):
        from lstm_zoo.data.classification import read_text_label_csv

        try:
            return read_text_label_csv(path, labels=classes)
        except ValueError as error:  # IMDB's neg/pos for any two-class head
            if len(classes) != 2 or "unknown label" not in str(error):
                raise
            return read_text_label_csv(path)
    texts, labels, numbers = read_labelled_lines(path)
    return texts, label_ids(labels, numbers, classes, path)


def tagged_sentences(path, tags=None):
    """(word lists, tag lists) of a CoNLL-U or CoNLL-2003 file; with `tags`, a tag outside
    them is a ValueError naming the file and sentence."""
    from lstm_zoo.tasks import read_tagged_file

    sentences = read_tagged_file(path)
    if tags is not None:
        known = set(tags)
        for number, (words, row) in enumerate(sentences, start=1):
            bad = next((t for t in row if t not in known), None)
            if bad is not None:
                start = " ".join(words[:6]) + (" ..." if len(words) > 6 else "")
                raise ValueError(
                    f"{path}: sentence {number} ({start!r}): tag {bad!r} is not one of the "
                    f"model's tags {list(tags)}"
                )
    return [list(w) for w, _ in sentences], [list(t) for _, t in sentences]


def text_of(path):
    """The text of a plain UTF-8 file, every line ending in a newline."""
    from lstm_zoo.data.files import read_lines

    text = "".join(line + "\n" for _, line in read_lines(path))
    if not text.strip():
        raise ValueError(f"{path}: the file holds no text")
    return text


def char_windows(model, text, batch_size, num_steps, path, shuffle_seed=None):
    """(inputs, targets) windows of `num_steps` characters of one stream (state reset every
    window); fewer rows than `batch_size` when the text is short."""
    from lstm_zoo.data import lm_windows

    ids = np.asarray(model.preprocessor.encode([text])[0], dtype=np.int32)
    rows = _stream_rows(len(ids), batch_size, num_steps, path, "characters")
    data = lm_windows(ids, rows, num_steps)
    return data.shuffle(4096, seed=shuffle_seed) if shuffle_seed is not None else data


def word_stream(model, path):
    """The ids of a word-level text file as one stream: each nonblank line's tokens (the
    preprocessor's rule), then the model's end token when it has one (PTB's `<eos>`)."""
    end = [model.end_token] if model.end_token is not None else []
    tokens = []
    for line in _lines(path):
        tokens.extend(model.preprocessor.tokenize(line) + end)
    return np.asarray(model.preprocessor.vocabulary.encode(tokens), dtype=np.int32)


def _stream_rows(length, batch_size, num_steps, path, what):
    """Rows of the windows cut from a stream of `length` tokens: `batch_size`, or fewer when
    the stream is short (each row needs `num_steps` + 1 tokens); ValueError when none fits."""
    rows = min(batch_size, length // (num_steps + 1))
    if rows < 1:
        raise ValueError(
            f"{path}: {length} {what} make no window of {num_steps} (+1 for the target); "
            "give a longer file or a smaller --num-steps"
        )
    return rows


def _lines(path):
    return [line for line in text_of(path).splitlines() if line.strip()]


# ------------------------------------------------------------------ evaluate


def evaluate_model(model, path, batch_size=None, num_steps=None):
    """The task's metrics of a task model on a data file (see the module docstring):
    classifier `accuracy`, `loss`; tagger `accuracy` (exact, over tokens), `loss` and, for a
    chunk tag set, `span_*` (conlleval, overall and per type); language model `perplexity`,
    `loss` (nats per token) and, at character level, `bits_per_char`."""
    name = type(model).__name__
    if name == "LanguageModel":
        return _language_model_metrics(model, path, batch_size, num_steps)
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    if name == "TextClassifier":
        return classifier_metrics(model, *classification_examples(path, model.labels), batch_size)
    if name == "SequenceTagger":
        from lstm_zoo.models.task import Task

        words, truth = tagged_sentences(path, model.tags)
        guess = model.predict_tags(words, batch_size=batch_size)
        result = Task.evaluate(model, words, truth, batch_size, verbose=0, return_dict=True)
        metrics = {"accuracy": token_accuracy(truth, guess), "loss": float(result["loss"])}
        return {**metrics, **span_metrics(truth, guess, model.tags)}
    raise ValueError(f"no metrics for a {name}: not a task model of lstm_zoo")


def classifier_metrics(model, x, y=None, batch_size=None):
    """`accuracy` and `loss` of a `TextClassifier` on texts (or ids) `x` with label ids `y`,
    or on a dataset of both."""
    result = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
    accuracy = next(v for k, v in result.items() if k.endswith("accuracy"))
    return {"accuracy": float(accuracy), "loss": float(result["loss"])}


def _language_model_metrics(model, path, batch_size=None, num_steps=None):
    level = "char" if model.preprocessor.level == "char" else "word"
    batch_size = batch_size or LM_WINDOW[level][0]
    num_steps = num_steps or LM_WINDOW[level][1]
    if level == "char":
        data = char_windows(model, text_of(path), batch_size, num_steps, path)
        loss = float(model.evaluate(data, verbose=0, return_dict=True)["loss"])
        return {"perplexity": math.exp(loss), "bits_per_char": loss / math.log(2), "loss": loss}
    ids = word_stream(model, path)
    rows = _stream_rows(len(ids), batch_size, num_steps, path, "tokens")
    perplexity = model.stream_perplexity(ids, rows, num_steps)
    return {"perplexity": perplexity, "loss": math.log(perplexity)}


def evaluate_preset(preset, path, batch_size=None, num_steps=None, log=print):
    """Load `preset`, print its metrics on the data file `path` (`evaluate_model`), return
    them."""
    from lstm_zoo.tasks import check_readable_file

    check_readable_file(path, "DATA")
    model = load(preset)
    if type(model).__name__ == "LanguageModel":
        settings = training_settings(preset)
        if "num_steps" in settings:  # trained on windows: score on its window shape
            batch_size = batch_size or settings.get("batch_size")
            num_steps = num_steps or settings["num_steps"]
    metrics = evaluate_model(model, path, batch_size, num_steps)
    for line in format_metrics(metrics):
        log(line)
    return metrics


# ------------------------------------------------------------------ fine-tune


def check_output(output, overwrite):
    """ValueError unless `output` can take a new preset (new, empty, or `overwrite`)."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output}: exists and is not a directory")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise ValueError(
            f"--output {output}: exists and is not empty; give --overwrite to replace it "
            "(the old one is kept until the new preset is written)"
        )


def new_head(name, classes, train_path):
    """The `from_preset` overrides for the training file's labels (classifier) or tags
    (tagger): {} when the preset's head covers them, else `labels=` / `tags=` the file's set,
    sorted (labels that are all numbers in numeric order)."""
    if name == "TextClassifier" and not str(train_path).endswith((".csv", ".csv.gz")):
        _, labels, _ = read_labelled_lines(train_path)
        if _fits(labels, classes):
            return {}
        numeric = all(x.isdigit() for x in labels)
        return {"labels": sorted(set(labels), key=int if numeric else None)}
    if name == "SequenceTagger":
        _, tags = tagged_sentences(train_path)
        found = sorted({t for row in tags for t in row})
        return {} if set(found) <= set(classes) else {"tags": found}
    return {}


def _training_data(model, path, batch_size, num_steps, seed=None):
    """(x, y) for `fit` / (inputs, labels) for validation of a training or validation file."""
    name = type(model).__name__
    if name == "TextClassifier":
        return classification_examples(path, model.labels)
    if name == "SequenceTagger":
        return tagged_sentences(path, model.tags)
    if model.preprocessor.level == "char":
        return char_windows(model, text_of(path), batch_size, num_steps, path, seed), None
    return _lines(path), None


def finetune_preset(
    preset,
    train_path,
    output,
    valid_path=None,
    test_path=None,
    epochs=None,
    batch_size=None,
    learning_rate=None,
    num_steps=None,
    seed=0,
    overwrite=False,
    verbose=2,
    log=print,
    command=None,
):
    """Fine-tune `preset` on `train_path` and write the result as the preset `output`.

    The task is the preset's; the vocabulary and the encoder are kept. A training file whose
    labels (classifier) or tags (tagger) are not all the preset's builds a new head for the
    file's set (sorted), initialised afresh. With `valid_path`, each epoch is validated (a
    chunk-tag tagger adds conlleval's span metrics); `test_path` is scored once at the end.

    Args:
        preset: a bundled preset name or a preset directory.
        train_path, valid_path, test_path: data files (module docstring).
        output: str or Path. The preset directory to write (new, empty, or `overwrite`).
        epochs, batch_size, learning_rate: default 3, 32 and 1e-3 (Adam).
        num_steps: int. Character language models: characters per window (default 64).
        seed: int. Seeds Keras, the data order and new heads.
        verbose: Keras's fit verbosity.
        command: str. Recorded in metadata.json as the training command.

    Returns:
        (model, metrics): the fine-tuned task model and its final metrics (the last epoch's
        history, `valid_*` and `test_*` scores).
    """
    from lstm_zoo.presets import save_to_preset
    from lstm_zoo.tasks import check_readable_file

    for flag, path in (("--train", train_path), ("--valid", valid_path), ("--test", test_path)):
        check_readable_file(path, flag)
    check_output(output, overwrite)
    name = preset_class_name(preset)
    # A word LM trains on lines and is scored as a stream (LM_WINDOW unless given).
    word_lm = name == "LanguageModel" and not is_char_language_model(preset)
    stream_window = (batch_size, num_steps)
    epochs = epochs or DEFAULT_EPOCHS
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    num_steps = num_steps or DEFAULT_NUM_STEPS
    keras.utils.set_random_seed(seed)
    model, overrides = _with_head_for(preset, name, train_path, log)
    model.compile_default(learning_rate or DEFAULT_LEARNING_RATE)
    history, x = _fit_files(
        model, train_path, valid_path, epochs, batch_size, num_steps, seed, verbose, log
    )
    metrics = {k: float(v[-1]) for k, v in history.history.items()}
    window = stream_window if word_lm else (batch_size, num_steps)
    metrics.update(_scores(model, {"valid": valid_path, "test": test_path}, window, log))
    output = Path(output)
    metadata = _finetuned_metadata(
        preset,
        output,
        {"train": train_path, "valid": valid_path, "test": test_path},
        {
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate or DEFAULT_LEARNING_RATE,
            "seed": seed,
            "new_head": bool(overrides),
            **({"num_steps": num_steps} if _is_dataset(x) else {}),
        },
        metrics,
        history.history,
        command,
    )
    partial = output.with_name(output.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    save_to_preset(model, partial, metadata)
    _replace(partial, output)
    return model, metrics


def _with_head_for(preset, name, train_path, log):
    """(the preset's task model, head overrides): a new head when the training file's labels
    or tags are not all the preset's."""
    head_arguments = preset_config(preset).get("task_arguments") or {}
    current = head_arguments.get("labels") or head_arguments.get("tags") or []
    overrides = new_head(name, current, train_path)
    model = load(preset, **overrides)
    if overrides:
        head = overrides.get("labels") or overrides.get("tags")
        log(
            f"new head for {len(head)} {'labels' if name == 'TextClassifier' else 'tags'}: "
            f"{', '.join(head)} (the encoder is the preset's)"
        )
    return model, overrides


def _fit_files(model, train_path, valid_path, epochs, batch_size, num_steps, seed, verbose, log):
    """`fit` on the training file, validated on `valid_path` each epoch (a chunk-tag tagger
    prints conlleval's span table too). Returns (history, the training x)."""
    x, y = _training_data(model, train_path, batch_size, num_steps, seed)
    validation = None
    if valid_path:
        vx, vy = _training_data(model, valid_path, batch_size, num_steps)
        validation = vx if vy is None and not isinstance(vx, list) else (vx, vy)
    callbacks = []
    if valid_path and getattr(model, "scheme", None) is not None:
        callbacks = [keras.callbacks.ProgbarLogger()] if verbose else []
        callbacks.append(_SpanTable(vx, vy, log))  # after the progress bar's epoch line
    history = model.fit(
        x,
        y,
        batch_size=None if _is_dataset(x) else batch_size,
        epochs=epochs,
        validation_data=validation,
        verbose=verbose,
        callbacks=callbacks,
    )
    return history, x


def _scores(model, paths, window, log):
    """{split_metric: value} of `evaluate_model` on each given file ({split: path or None}),
    logged as `lstm-zoo evaluate` prints them."""
    metrics = {}
    for split, path in paths.items():
        if path:
            scores = evaluate_model(model, path, *window)
            lines = format_metrics(scores)
            log(f"{split}: {lines[0]}")
            for line in lines[1:]:
                log(line)
            metrics.update({f"{split}_{k}": v for k, v in scores.items()})
    return metrics


def _finetuned_metadata(preset, output, paths, settings, metrics, history, command):
    """metadata.json of a fine-tuned preset: base preset, data files, settings, final
    metrics and per-epoch history, training command and the base data's licence."""
    from lstm_zoo.presets.io import load_metadata

    metadata = {
        "name": output.name,
        "description": f"{preset} fine-tuned on {paths['train']}",
        "base_preset": str(preset),
        "data": {k: str(v) for k, v in paths.items() if v},
        "settings": settings,
        "metrics": {k: round(v, 4) for k, v in metrics.items()},
        "history": {k: [round(float(e), 4) for e in v] for k, v in history.items()},
        "training_command": command or "lstm_zoo.preset_commands.finetune_preset",
    }
    licence = load_metadata(preset).get("data_license")
    if licence:
        metadata["data_license"] = f"base preset: {licence}"
    return metadata


class _SpanTable(keras.callbacks.Callback):
    """Logs conlleval's table (overall and per type) on the validation sentences after each
    epoch (the epoch's logs hold `val_span_*` already: `SequenceTagger.fit` adds them)."""

    def __init__(self, words, tags, log):
        super().__init__()
        self.words, self.tags, self.log = words, tags, log

    def on_epoch_end(self, epoch, logs=None):
        guess = self.model.predict_tags(self.words)
        scores = span_metrics(self.tags, guess, self.model.tags, "val_")
        for line in format_metrics(scores)[1:]:
            self.log(line)


def _is_dataset(x):
    import tensorflow as tf

    return isinstance(x, tf.data.Dataset)


def _replace(partial, output):
    """Move the complete preset `partial` to `output`; an old `output` goes only after."""
    old = output.with_name(output.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if output.exists():
        os.replace(output, old)
    os.replace(partial, output)
    if old.exists():
        shutil.rmtree(old)


# ------------------------------------------------------------------ export, generate


def export_preset(preset, output, **kwargs):
    """A raw-string SavedModel of a preset's task model (`<Task>.export`); `kwargs` go to
    `lstm_zoo.export.export_saved_model` (language models: samplers, num_beams, ...)."""
    model = load(preset)
    if type(model).__name__ != "LanguageModel":
        kwargs = {k: v for k, v in kwargs.items() if k == "overwrite"}
    model.export(str(output), **kwargs)
    return model


def generate_preset(preset, prompts, max_length, sampler="greedy", seed=None, **kwargs):
    """Texts a language-model preset or run continues `prompts` with
    (`LanguageModel.generate`)."""
    model = load(preset)
    if type(model).__name__ != "LanguageModel":
        raise ValueError(f"{preset}: a {type(model).__name__}; generate needs a language model")
    if not prompts:
        raise ValueError(
            "--prompt: give a prompt to continue (a language model has no start token)"
        )
    return model.generate(list(prompts), max_length, sampler, seed, **kwargs)
