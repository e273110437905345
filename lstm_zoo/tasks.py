"""Training and evaluation of the three tasks from data files, as `lstm-zoo train` and
`lstm-zoo evaluate` run them.

Every task reads local files (or a tensorflow-datasets name for sentiment and tagging),
builds the vocabulary from the training split, trains with `model.fit` and writes a run
directory (`lstm_zoo.runs`): the model, the vocabulary, checkpoints per epoch, TensorBoard logs,
history.csv and training_curves.png.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, fields
from pathlib import Path

import keras
import numpy as np

from lstm_zoo.runs import TASKS, Run, save_run
from lstm_zoo.span_report import chunk_types, format_metrics, is_per_type

TASK_NAMES = TASKS  # "lm", "sentiment", "tagger" (lstm_zoo.runs)


@dataclass
class TrainOptions:
    """What `train` takes besides the task: data, model and training settings.

    Data: `train_path`, `valid_path`, `test_path` (local files), or `tfds_name` (+ `data_dir`).
    Model: `cell` (registry name), `preset`, `units`, `num_layers`, `bidirectional`
    (sentiment), `crf` and `char_features` (tagger), `embeddings_path` (vector file), `level`
    ("word"/"char", lm), `lowercase`, `max_vocabulary`. Training: `epochs` (default: the
    preset's, or 3), `batch_size`, `num_steps` (lm), `learning_rate`, `seed`. Distribution
    and faults: `strategy` ("default", "mirrored", "multi-worker" or a tf.distribute.Strategy;
    see `lstm_zoo.distribute`), `backup_every` (steps between backups of the training state).
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
    strategy: object = "default"
    backup_every: int = 100


def train(task, output="runs/latest", verbose=1, log=print, overwrite=False, **options):
    """Train `task` ("lm", "sentiment" or "tagger") and write the run directory `output`.

    The run is written into `OUTPUT.partial` beside `output` and renamed into place once it
    is complete; an existing `output` is replaced only with `overwrite=True` (and only then).
    The training state is backed up in `OUTPUT.partial/backup` every `backup_every` steps and
    at each epoch's end: the same call after a crash or a kill resumes there (weights,
    optimizer, random-generator states, carried recurrent states, data order) and finishes
    with the weights an uninterrupted run would have.

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
    check_options(task, o)
    from lstm_zoo import distribute

    strategy = distribute.make_strategy(o.strategy)  # first: multi-worker configures TF
    output = Path(output)
    chief = distribute.is_chief(strategy)
    partial = _prepare_output(output, task, o, overwrite, chief, distribute.worker_index(strategy))
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
        "strategy": o.strategy if isinstance(o.strategy, str) else type(o.strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
    }
    trainer = {"lm": _train_language_model, "sentiment": _train_sentiment, "tagger": _train_tagger}
    arguments = {
        k: v
        for k, v in _shallow(o).items()
        if k not in ("epochs", "seed", "strategy", "backup_every")
    }
    with strategy.scope():
        run, model, data = trainer[task](
            **arguments, seed=o.seed, strategy=strategy, settings=settings, log=log
        )
    epochs = o.epochs or data.pop("epochs", 3)
    data.pop("epochs", None)
    run.settings["epochs"] = epochs
    save_run(partial, run)  # vocabulary first: a crash mid-training keeps a readable run
    history = _fit_resumable(model, data, epochs, partial, o, strategy, verbose, chief, log)
    run.metrics = {k: float(v[-1]) for k, v in history.history.items()}
    final = data.get("single_replica_model", lambda m: m)(model)
    if data.get("test") is not None:
        test = _test_metrics(run, final, o.test_path, data["test"])
        run.metrics.update({f"test_{k}": v for k, v in test.items()})
        lines = format_metrics(test)
        log("test: " + lines[0])
        for line in lines[1:]:
            log(line)
    save_run(partial, run, final)
    if chief:
        _finish_output(partial, output)
    else:
        shutil.rmtree(partial, ignore_errors=True)
    return run, final, history


def _shallow(o):
    """The fields of `o` (dataclasses.asdict would deep-copy a Strategy instance)."""
    return {f.name: getattr(o, f.name) for f in fields(o)}


def check_options(task, o):
    """ValueError naming the option (and its flag) when a setting is out of range, does not
    apply to `task`, or names a missing file: nothing is replaced by a default silently."""
    _check_numbers(o)
    _check_applicable(task, o)
    _check_data(o)


def _check_numbers(o):
    """Integers in their ranges, the learning rate in (0, 1000]."""
    ranges = {
        "units": (1, 65536),
        "num_layers": (1, 64),
        "epochs": (1, 100_000),
        "batch_size": (1, 1_000_000),
        "num_steps": (1, 100_000),
        "max_vocabulary": (3, None),
        "seed": (0, 2**32 - 1),
        "backup_every": (1, None),
    }
    for name, (low, high) in ranges.items():
        value = getattr(o, name)
        if value is None and name not in ("seed", "backup_every"):
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{_flag(name)} must be an integer; got {value!r}")
        if value < low or (high is not None and value > high):
            allowed = f"in [{low}, {high}]" if high is not None else f">= {low}"
            extra = " (padding, unknown and one word)" if name == "max_vocabulary" else ""
            raise ValueError(f"{_flag(name)} must be an integer {allowed}{extra}; got {value}")
    if o.learning_rate is not None and not (
        isinstance(o.learning_rate, (int, float)) and 0 < o.learning_rate <= 1000
    ):
        raise ValueError(f"{_flag('learning_rate')} must be in (0, 1000]; got {o.learning_rate}")


def _check_applicable(task, o):
    """The cell, level, preset and task-specific options exist and apply to `task`."""
    from lstm_zoo.layers.registry import available_recurrent_layers

    if o.cell not in available_recurrent_layers():
        known = ", ".join(available_recurrent_layers())
        raise ValueError(f"{_flag('cell')} {o.cell!r} is not a registered layer ({known})")
    if o.level not in ("word", "char"):
        raise ValueError(f"{_flag('level')} must be word or char; got {o.level!r}")
    only = {
        "crf": ("tagger",),
        "char_features": ("tagger",),
        "bidirectional": ("sentiment",),
        "num_steps": ("lm",),
        "tfds_name": ("sentiment",),
        "data_dir": ("sentiment",),
        "preset": ("lm", "sentiment"),
        "embeddings_path": ("sentiment", "tagger"),
        "lowercase": ("sentiment", "tagger"),
    }
    for name, tasks in only.items():
        if getattr(o, name) and task not in tasks:
            raise ValueError(f"{_flag(name)} applies to --task {' or '.join(tasks)}, not {task}")
    if o.level != "word" and task != "lm":
        raise ValueError(f"{_flag('level')} char applies to --task lm, not {task}")
    if o.preset is not None:
        from lstm_zoo.models.presets import LANGUAGE_MODEL_PRESETS, SENTIMENT_PRESETS

        known = LANGUAGE_MODEL_PRESETS if task == "lm" else SENTIMENT_PRESETS
        if o.preset not in known:
            raise ValueError(f"{_flag('preset')} {o.preset!r} is not one of {', '.join(known)}")


def _check_data(o):
    """One source of training data; the files readable; the strategy known."""
    if o.train_path is None and o.tfds_name is None:
        raise ValueError("give training data: a local file (--train) or a tfds name (--tfds)")
    if o.train_path is not None and o.tfds_name is not None:
        raise ValueError("give --train or --tfds, not both")
    if o.data_dir and not o.tfds_name:
        raise ValueError("--data-dir is the tfds data directory: it needs --tfds")
    for name in ("train_path", "valid_path", "test_path", "embeddings_path"):
        check_readable_file(getattr(o, name), _flag(name))
    if o.data_dir is not None and not Path(o.data_dir).is_dir():
        raise ValueError(f"{_flag('data_dir')} {o.data_dir}: no such directory")
    from lstm_zoo.distribute import STRATEGY_NAMES

    if isinstance(o.strategy, str) and o.strategy not in STRATEGY_NAMES:
        raise ValueError(f"{_flag('strategy')} must be one of {', '.join(STRATEGY_NAMES)}")


_FLAGS = {
    "train_path": "--train",
    "valid_path": "--valid",
    "test_path": "--test",
    "tfds_name": "--tfds",
    "num_layers": "--layers",
    "embeddings_path": "--embeddings",
}


def _flag(name):
    """'units (--units)': the option's name in the API and on the command line."""
    return f"{name} ({_FLAGS.get(name, '--' + name.replace('_', '-'))})"


def check_readable_file(path, what="file"):
    """ValueError unless `path` (if given) is a file this process can read."""
    if path is None:
        return
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{what} {path}: no such file")
    if not path.is_file():
        raise ValueError(f"{what} {path}: not a file")
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as error:
        raise ValueError(f"{what} {path}: cannot be read ({error.strerror})") from None


# ------------------------------------------------------------------ run directory, resume

PARTIAL_SUFFIX, OLD_SUFFIX, OPTIONS_FILE, COMPLETE_FILE = (
    ".partial",
    ".old",
    "train-options.json",
    ".complete",
)


def partial_directory(output):
    """Where a run to `output` is written until it is complete: `OUTPUT.partial` beside it."""
    output = Path(output)
    return output.with_name(output.name + PARTIAL_SUFFIX)


def _options_record(task, o):
    record = {"task": task, **_shallow(o)}
    if not isinstance(o.strategy, str):
        record["strategy"] = type(o.strategy).__name__
    return json.loads(json.dumps(record, default=str))


def _prepare_output(output, task, o, overwrite, chief, worker):
    """The directory to write into (OUTPUT.partial; OUTPUT.partial-worker-K on the other
    workers, removed at the end); refuses an existing OUTPUT without `overwrite` and a partial
    run made with other options."""
    partial = partial_directory(output)
    old = output.with_name(output.name + OLD_SUFFIX)
    if output.exists() and not output.is_dir():
        raise ValueError(f"--output {output}: exists and is not a directory")
    if not output.exists() and old.is_dir() and (partial / COMPLETE_FILE).exists():
        _finish_output(partial, output)  # a previous swap was cut short: finish it
    if output.exists() and any(output.iterdir()) and not overwrite:
        raise ValueError(
            f"--output {output}: exists and is not empty; give --overwrite to replace it "
            "(the old run is kept until the new one is complete)"
        )
    record = _options_record(task, o)
    if chief:
        if partial.exists() and (partial / COMPLETE_FILE).exists():
            shutil.rmtree(partial)  # finished but not moved, and OUTPUT was replaced since
    else:  # other workers keep their own backup beside (their own disk, or a shared one)
        partial = partial.with_name(f"{partial.name}-worker-{worker}")
    if partial.exists():
        try:
            before = json.loads((partial / OPTIONS_FILE).read_text())
        except (OSError, ValueError):
            before = None
        if before != record:
            raise ValueError(
                f"{partial}: holds an interrupted run with other options (or none); "
                "rerun the same command to resume it, or delete it"
            )
    partial.mkdir(parents=True, exist_ok=True)
    _write_atomic(partial / OPTIONS_FILE, json.dumps(record, indent=2))
    return partial


def _write_atomic(path, text):
    scratch = path.with_name(path.name + ".tmp")
    scratch.write_text(text)
    os.replace(scratch, path)


def _finish_output(partial, output):
    """Move the complete run `partial` to `output`; the old run is removed only after."""
    for name in ("backup", OPTIONS_FILE):
        target = partial / name
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()
    (partial / COMPLETE_FILE).touch()
    old = output.with_name(output.name + OLD_SUFFIX)
    if output.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(output, old)
    os.replace(partial, output)
    (output / COMPLETE_FILE).unlink()
    if old.exists():
        shutil.rmtree(old)


class _TrainingState(keras.callbacks.Callback):
    """Backs up (and restores) everything a resumed run needs to continue exactly: model and
    optimizer variables (random-generator states included), each replica's carried recurrent
    states and the position (epoch, batch) in the data. Files are replaced atomically."""

    def __init__(self, directory, every, strategy, write):
        super().__init__()
        self.directory, self.every, self.strategy, self.write = directory, every, strategy, write
        self.epoch, self.offset, self.since = 0, 0, 0
        self.pending_states = None

    # What is saved.
    def _variables(self):
        return list(self.model.variables) + list(self.model.optimizer.variables)

    def _state_variables(self):
        from lstm_zoo.distribute import stateful_layers

        return [s for layer in stateful_layers(self.model) for s in layer.states]

    def save(self, epoch, batch):
        """Write state.npz (one file: the position travels with the values); the backup
        before stays as previous.npz until the next one is complete."""
        from lstm_zoo.distribute import local_values

        arrays = {f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(self._variables())}
        for i, state in enumerate(self._state_variables()):
            for r, value in enumerate(local_values(state)):
                arrays[f"s{i}_{r}"] = value.numpy()
        arrays["position"] = np.array([epoch, batch], dtype=np.int64)
        if not self.write:
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        scratch, current = self.directory / "state.tmp.npz", self.directory / "state.npz"
        np.savez(scratch, **arrays)
        if current.exists():
            os.replace(current, self.directory / "previous.npz")
        os.replace(scratch, current)

    def _backups(self):
        """{(epoch, batch): path} of the complete backups here (current and previous)."""
        found = {}
        for name in ("previous.npz", "state.npz"):
            path = self.directory / name
            if path.exists():
                try:
                    with np.load(path) as arrays:
                        found[tuple(int(p) for p in arrays["position"])] = path
                except (OSError, ValueError, KeyError):
                    continue  # torn or foreign: not a backup
        return found

    def load(self):
        """(epoch, batches done in it) of the backup, restoring the variables; (0, 0) if none.

        Under several workers, each reads its own backup and all resume from the earliest
        step that every worker has (a worker killed between two backups is one behind)."""
        from lstm_zoo.distribute import agreed_position, local_values

        backups = self._backups()
        latest = max(backups) if backups else None
        position = agreed_position(self.strategy, latest)
        if position is None:
            return 0, 0
        if position not in backups:
            raise ValueError(
                f"{self.directory}: the workers' backups do not meet (this one has "
                f"{sorted(backups)}, the cluster resumes at {position}); delete the partial runs"
            )
        optimizer = self.model.optimizer
        if not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        with np.load(backups[position]) as arrays:
            for i, variable in enumerate(self._variables()):
                variable.assign(arrays[f"v{i}"])
            states = []
            for i, state in enumerate(self._state_variables()):
                replicas = local_values(state)
                states.append([arrays[f"s{i}_{r}"] for r in range(len(replicas))])
        epoch, batch = position
        self.pending_states = states if batch else None
        return epoch, batch

    # When.
    def on_epoch_begin(self, epoch, logs=None):
        from lstm_zoo.distribute import local_values

        self.epoch, self.since = epoch, 0
        if self.pending_states is not None:  # after the epoch's reset: the carried states
            for state, values in zip(self._state_variables(), self.pending_states):
                for replica, value in zip(local_values(state), values):
                    replica.assign(value)
            self.pending_states = None

    def on_train_batch_end(self, batch, logs=None):
        self.since += 1
        if self.since >= self.every:
            self.since = 0
            self.save(self.epoch, self.offset + batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        self.offset = 0
        self.save(epoch + 1, 0)


class _Progress(keras.callbacks.ProgbarLogger):
    """Keras's progress bar, counting epochs over all the `fit` calls of one run."""

    def __init__(self, epochs):
        super().__init__()
        self.total_epochs = epochs

    def set_params(self, params):
        super().set_params(params)
        self.epochs = self.total_epochs


def _fit_resumable(model, data, epochs, partial, o, strategy, verbose, chief, log):
    """model.fit epoch by epoch (each epoch's data order a function of seed and epoch), from
    the backup in `partial` if there is one."""
    from lstm_zoo import distribute

    state = _TrainingState(partial / "backup", o.backup_every, strategy, write=True)
    state.set_model(model)
    start, skip = state.load()
    if start or skip:
        log(f"resuming from {partial / 'backup'}: epoch {start + 1}, after {skip} batches")
    callbacks = _callbacks(partial, data.get("callbacks", []), resumed_epochs=start)
    callbacks += [state] + ([_Progress(epochs)] if verbose else []) + data.get("reporters", [])
    history = keras.callbacks.History()
    history.history = _history_rows(partial / "history.csv") if start else {}
    history.epoch = list(range(start))
    for epoch in range(start, epochs):
        train_data = data["train"](epoch) if callable(data["train"]) else data["train"]
        if epoch == start and skip:
            train_data, state.offset = train_data.skip(skip), skip
        distribute.build_before_fit(model, strategy, train_data)
        fitted = model.fit(
            _sharded(train_data),
            validation_data=_sharded(data.get("valid")),
            initial_epoch=epoch,
            epochs=epoch + 1,
            verbose=verbose,
            shuffle=False,  # the order is the pipeline's (LM windows must stay in order)
            callbacks=callbacks,
        )
        history.epoch.append(epoch)
        for key, values in fitted.history.items():
            history.history.setdefault(key, []).extend(values)
    history.set_model(model)
    return history


def _sharded(dataset):
    if dataset is None:
        return None
    from lstm_zoo.distribute import shard_by_data

    return shard_by_data(dataset)


def _history_rows(path):
    """The per-epoch metrics of history.csv (what a resumed run had before it stopped)."""
    import csv

    if not path.exists():
        return {}
    rows = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                if key != "epoch":
                    try:
                        rows.setdefault(key, []).append(float(value))
                    except (TypeError, ValueError):  # CSVLogger writes NA for a missing value
                        rows[key].append(float("nan"))
    return rows


def _callbacks(output, extra, resumed_epochs=0):
    from lstm_zoo.plots import TrainingCurvesPNG

    class Curves(TrainingCurvesPNG):  # one figure over all the fit calls of a run
        def on_train_begin(self, logs=None):
            pass

    curves = Curves(str(output / "training_curves.png"))
    csv_path = output / "history.csv"
    if csv_path.exists():  # keep the rows of the epochs before the backup, no others
        lines = csv_path.read_text().splitlines(keepends=True)
        kept = lines[: 1 + resumed_epochs] if resumed_epochs else []
        _write_atomic(csv_path, "".join(kept))
        if not kept:
            csv_path.unlink()
    if resumed_epochs:
        rows = _history_rows(csv_path)
        count = len(next(iter(rows.values()), []))
        curves.epochs = list(range(count))
        curves.logs = [{k: v[i] for k, v in rows.items()} for i in range(count)]
    (output / "checkpoints").mkdir(parents=True, exist_ok=True)
    return [
        *extra,
        keras.callbacks.ModelCheckpoint(str(output / "checkpoints" / "epoch-{epoch:03d}.keras")),
        keras.callbacks.TensorBoard(str(output / "logs")),
        keras.callbacks.CSVLogger(str(output / "history.csv"), append=True),
        curves,
    ]


def _test_metrics(run, model, test_path, test_data):
    """The test metrics of a trained run: those `lstm-zoo evaluate RUN TEST_FILE` prints (the
    run's task model on the file; a language model on its training window shape), or, for a
    tfds test split, the classifier's accuracy and loss on its batches."""
    from lstm_zoo.preset_commands import classifier_metrics, evaluate_model
    from lstm_zoo.runs import task_model_of

    task_model = task_model_of(run, model)
    if test_path is None:  # a tfds split (sentiment)
        return classifier_metrics(task_model, test_data)
    window = (run.settings["batch_size"], run.settings["num_steps"]) if run.task == "lm" else ()
    return evaluate_model(task_model, test_path, *window)


class _TaggerValidation(keras.callbacks.Callback):
    """Adds the validation token accuracy (CRF head: Keras reports only its loss) and, for a
    chunk tag set, conlleval's overall span precision/recall/F1 to each epoch's logs
    (`val_accuracy`, `val_span_*`: the progress bar, history.csv and the curves show them);
    `report` then logs the per-type table after the epoch's progress line."""

    def __init__(self, run, data, log):
        super().__init__()
        self.run, self.data, self.log = run, data, log
        self.last = {}

    def on_train_begin(self, logs=None):
        from lstm_zoo.runs import task_model_of

        self.tagger = task_model_of(self.run, self.model, compile=False)  # for predictions

    def on_epoch_end(self, epoch, logs=None):
        from lstm_zoo.span_report import span_metrics, token_accuracy

        truth, guess = self.tagger.tag_sequences(self.data)
        metrics = span_metrics(truth, guess, self.run.labels, "val_")
        if self.tagger.crf:  # Keras reports only the CRF's loss
            metrics = {"val_accuracy": token_accuracy(truth, guess), **metrics}
        self.last = metrics
        if logs is not None:  # overall figures only: a fixed set of columns in history.csv
            logs.update({k: v for k, v in metrics.items() if not is_per_type(k)})

    def report(self):
        """A callback that logs the last epoch's span table (placed after the progress bar)."""
        owner = self

        class Report(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                spans = {k: v for k, v in owner.last.items() if "span_" in k}
                for line in format_metrics(spans)[1:]:
                    owner.log(line)

        return Report()


# ------------------------------------------------------------------ language models


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
    strategy,
    settings,
    log,
    **_,
):
    from lstm_zoo.data import read_lm_tokens
    from lstm_zoo.models import (
        EpochLearningRateDecay,
        ResetStatesAtEpochAndEvaluation,
        compile_language_model,
        language_model,
        language_model_preset,
    )
    from lstm_zoo.text import Vocabulary

    if tfds_name:
        raise ValueError("language models train on local text files (--train); not on tfds")
    arguments = language_model_preset(preset or "ptb-small")
    model_args, training = arguments["model"], arguments["training"]
    model_args.update({k: v for k, v in (("units", units), ("num_layers", num_layers)) if v})
    batch_size = batch_size or training["batch_size"]
    num_steps = num_steps or training["num_steps"]
    train_tokens = read_lm_tokens(train_path, level=level)
    # The task models' one vocabulary type: <pad>, <unk>, then (word level) <eos>, then by
    # frequency; rare words beyond max_vocabulary and unknown words of later files -> <unk>.
    vocabulary = Vocabulary.build(
        [train_tokens], max_size=max_vocabulary, reserved=("<eos>",) if level == "word" else ()
    )
    log(f"{train_path}: {len(train_tokens):,} tokens, vocabulary {len(vocabulary):,}")

    data = {
        split: _lm_windows(vocabulary, path, level, batch_size, num_steps, tokens)
        for split, path, tokens in (
            ("train", train_path, train_tokens),
            ("valid", valid_path, None),
            ("test", test_path, None),
        )
    }
    data["epochs"] = training["epochs"]

    def build(rows):
        return language_model(
            len(vocabulary),
            cell=cell,
            batch_size=rows,
            num_steps=num_steps,
            stateful=True,
            **model_args,
        )

    model = _stateful_per_replica(build, batch_size, strategy, data)
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


def _lm_windows(vocabulary, path, level, batch_size, num_steps, tokens=None):
    """The truncated-BPTT windows of a text file (None without a file); errors name it."""
    from lstm_zoo.data import lm_windows, read_lm_tokens

    if not path:
        return None
    tokens = tokens if tokens is not None else read_lm_tokens(path, level=level)
    try:
        return lm_windows(vocabulary.encode(tokens), batch_size, num_steps)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def _stateful_per_replica(build, batch_size, strategy, data):
    """`build(rows)` for each replica's rows of the global batch, its states per replica; with
    several replicas, `data["single_replica_model"]` turns the trained model back into one of
    the global batch (what run directories hold)."""
    from lstm_zoo.distribute import make_states_per_replica, per_replica_batch

    replica_batch = per_replica_batch(batch_size, strategy)
    model = build(replica_batch)  # each replica carries the state of its rows of the batch
    make_states_per_replica(model, strategy)
    if replica_batch != batch_size:

        def single_replica_model(trained):
            with keras.device("cpu"):
                single = build(batch_size)
            single.set_weights(trained.get_weights())
            return single

        data["single_replica_model"] = single_replica_model
    return model


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
    seed,
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
        k: _dataset_for(run, None, None, (t, y), batch_size)
        for k, (t, y, _) in read.items()
        if k != "train"
    }
    texts, labels = read["train"][:2]
    data["train"] = lambda epoch: _dataset_for(
        run, None, None, _in_epoch_order((texts, labels), seed, epoch), batch_size
    )
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
    seed,
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
        k: _dataset_for(run, None, None, s, batch_size) for k, s in read.items() if k != "train"
    }
    data["train"] = lambda epoch: _dataset_for(
        run, None, None, _in_epoch_order(read["train"], seed, epoch), batch_size
    )
    data["epochs"] = 3
    if data.get("valid") is not None and (crf or chunk_types(tags)):
        validation = _TaggerValidation(run, data["valid"], log)
        data["callbacks"], data["reporters"] = [validation], [validation.report()]
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


def _in_epoch_order(examples, seed, epoch):
    """The training examples shuffled for `epoch`: a function of (seed, epoch) alone, so a
    resumed run sees each epoch in the order the interrupted one did."""
    if isinstance(examples, tuple):  # (texts, labels)
        order = np.random.default_rng([seed, epoch]).permutation(len(examples[0]))
        return [examples[0][i] for i in order], np.asarray(examples[1])[order]
    order = np.random.default_rng([seed, epoch]).permutation(len(examples))
    return [examples[i] for i in order]


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
        from lstm_zoo.data import lm_windows, read_lm_tokens
        from lstm_zoo.text import Vocabulary

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
