"""A run directory: what `lstm-zoo train` writes and `evaluate`, `generate`, `export` and
`inspect` read back (`load_task_model`: the run as the task model a preset loads as, so
every command takes a run directory and a preset the same way).

    run/
      run.json            task, cell, preset, vocabulary settings, labels, metrics
      vocabulary.json     tokens in id order (0 = padding), JSON so any character is safe
      model.keras         the trained model (loads with safe_mode=True)
      checkpoints/        one .keras file per epoch
      logs/               TensorBoard event files
      history.csv         the per-epoch metrics (keras.callbacks.CSVLogger)
      training_curves.png
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras

RUN_FILE, VOCABULARY_FILE, MODEL_FILE = "run.json", "vocabulary.json", "model.keras"
# The three tasks, by the names of run.json and `lstm-zoo train --task`, and the task model
# class each loads as (`load_task_model`, presets' config.json).
TASK_CLASSES = {"lm": "LanguageModel", "sentiment": "TextClassifier", "tagger": "SequenceTagger"}
TASKS = tuple(TASK_CLASSES)


@dataclass
class Run:
    """What a trained run needs besides its weights.

    Args:
        task: "lm", "sentiment" or "tagger".
        vocabulary: list of str. Token ids in order, 0 = padding.
        labels: list of str. Class or tag names in id order (empty for "lm").
        lowercase: bool. Texts are lowercased before the lookup.
        level: "word" or "char" (language models).
        end_token: str or None. The token that ends a generated sequence.
        characters: list of str or None. The character vocabulary of a tagger with
            character features.
        settings: dict. Cell, preset, sizes, data files: how the run was made.
        metrics: dict. Final metrics (validation, test).
    """

    task: str
    vocabulary: list
    labels: list = field(default_factory=list)
    lowercase: bool = False
    level: str = "word"
    end_token: str | None = None
    characters: list | None = None
    settings: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


def save_run(directory, run, model=None):
    """Write run.json, vocabulary.json and (given a model) model.keras into `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    description = asdict(run)
    vocabulary = description.pop("vocabulary")
    (directory / VOCABULARY_FILE).write_text(json.dumps(vocabulary, ensure_ascii=False))
    (directory / RUN_FILE).write_text(json.dumps(description, indent=2, ensure_ascii=False))
    if model is not None:
        model.save(directory / MODEL_FILE)
    return directory


def load_run(directory, with_model=True):
    """(Run, model or None) from a run directory; ValueError naming what is missing."""
    directory = Path(directory)
    if not directory.exists():
        raise ValueError(f"{directory}: not a run directory of lstm-zoo train (no such directory)")
    if not directory.is_dir():
        raise ValueError(f"{directory}: not a run directory of lstm-zoo train (not a directory)")
    for name in (RUN_FILE, VOCABULARY_FILE) + ((MODEL_FILE,) if with_model else ()):
        if not (directory / name).is_file():
            raise ValueError(f"{directory}: not a run directory of lstm-zoo train (no {name})")
    description = _read_json(directory / RUN_FILE)
    vocabulary = _read_json(directory / VOCABULARY_FILE)
    run = _run_from(directory, description, vocabulary)
    model = None
    if with_model:
        import zipfile

        import lstm_zoo.layers  # noqa: F401  (registers the zoo's classes for loading)
        import lstm_zoo.models.tagger  # noqa: F401

        if not zipfile.is_zipfile(directory / MODEL_FILE):
            raise ValueError(f"{directory / MODEL_FILE}: corrupt (not a .keras zip archive)")
        try:
            model = keras.saving.load_model(directory / MODEL_FILE, safe_mode=True)
        except (ValueError, OSError, KeyError, TypeError, EOFError) as error:
            message = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ValueError(f"{directory / MODEL_FILE}: cannot be loaded ({message})") from None
    return run, model


def _read_json(path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: corrupt (not UTF-8 text)") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: corrupt JSON ({error})") from None


_FIELD_TYPES = {
    "task": str,
    "labels": list,
    "lowercase": bool,
    "level": str,
    "end_token": (str, type(None)),
    "characters": (list, type(None)),
    "settings": dict,
    "metrics": dict,
}


def _run_from(directory, description, vocabulary):
    """A Run from the parsed files; ValueError naming the file and field that is wrong."""
    path = directory / RUN_FILE
    if not isinstance(description, dict):
        raise ValueError(
            f"{path}: corrupt (a JSON object expected, got {type(description).__name__})"
        )
    unknown = sorted(set(description) - set(_FIELD_TYPES))
    if unknown:
        raise ValueError(f"{path}: corrupt (unknown fields {', '.join(unknown)})")
    if "task" not in description:
        raise ValueError(f"{path}: corrupt (no task)")
    for name, kind in _FIELD_TYPES.items():
        if name in description and not isinstance(description[name], kind):
            got = type(description[name]).__name__
            raise ValueError(f"{path}: corrupt ({name} has the wrong type, {got})")
    if description["task"] not in TASKS:
        raise ValueError(
            f"{path}: corrupt (task {description['task']!r} is not {', '.join(TASKS)})"
        )
    if description.get("level", "word") not in ("word", "char"):
        raise ValueError(f"{path}: corrupt (level {description['level']!r} is not word or char)")
    for name, tokens in (("vocabulary", vocabulary), ("labels", description.get("labels", []))):
        if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
            file = directory / VOCABULARY_FILE if name == "vocabulary" else path
            raise ValueError(f"{file}: corrupt ({name} must be a list of strings)")
    if len(vocabulary) < 2:
        raise ValueError(f"{directory / VOCABULARY_FILE}: corrupt (fewer than 2 tokens)")
    return Run(vocabulary=vocabulary, **description)


# The factory arguments of a language-model run's backbone (run.json settings).
_LANGUAGE_MODEL_ARGUMENTS = (
    "cell",
    "embedding_dim",
    "units",
    "num_layers",
    "dropout",
    "tie_embeddings",
    "init_scale",
)


def load_task_model(directory):
    """(Run, task model) of a run directory (`task_model_of` its run and trained model).

    Raises:
        ValueError: as `load_run` and `task_model_of`.
    """
    run, model = load_run(directory)
    return run, task_model_of(run, model, Path(directory) / VOCABULARY_FILE)


def task_model_of(run, model, vocabulary_file=VOCABULARY_FILE, compile=True):
    """The task model of a run and its trained model, compiled (`compile_default`) unless
    `compile=False` (a wrapper for predictions only, e.g. during training): a
    `TextClassifier`, `SequenceTagger` or `LanguageModel` over the trained model and the
    run's vocabulary, tokenized by the one rule of `lstm_zoo.text`. A language model gets a
    stateless backbone (`language_model` of the run's settings) holding the trained weights;
    the trained model of a classifier or tagger is the backbone as it is.

    Raises:
        ValueError: a language-model run whose vocabulary does not have `<pad>`, `<unk>` at
            ids 0, 1 (written by an older lstm_zoo: train it again), naming `vocabulary_file`.
    """
    from lstm_zoo.models import SequenceTagger, TextClassifier
    from lstm_zoo.text import TextPreprocessor, Vocabulary
    from lstm_zoo.text.vocabulary import PAD, UNK

    if run.task == "lm":
        if run.vocabulary[:2] != [PAD, UNK]:
            raise ValueError(
                f"{vocabulary_file}: a language-model vocabulary of an older lstm_zoo (<unk> is "
                "not id 1); train the run again"
            )
        return _language_model(run, model, Vocabulary(run.vocabulary), compile)
    vocabulary = Vocabulary.from_legacy(run.vocabulary)
    if run.task == "sentiment":
        preprocessor = TextPreprocessor(vocabulary, lowercase=run.lowercase)
        task_model = TextClassifier(model, preprocessor, labels=run.labels)
    else:
        characters = None if run.characters is None else [PAD, UNK] + run.characters[2:]
        preprocessor = TextPreprocessor(vocabulary, lowercase=run.lowercase, characters=characters)
        task_model = SequenceTagger(model, preprocessor, tags=run.labels)
    if compile:
        task_model.compile_default()
    return task_model


def _language_model(run, trained, vocabulary, compile=True):
    from lstm_zoo.models import LanguageModel
    from lstm_zoo.models.language_model import language_model
    from lstm_zoo.text import TextPreprocessor

    arguments = {k: run.settings[k] for k in _LANGUAGE_MODEL_ARGUMENTS if k in run.settings}
    arguments["vocab_size"] = len(vocabulary)
    backbone = language_model(**arguments)
    backbone.set_weights(trained.get_weights())
    preprocessor = TextPreprocessor(vocabulary, level=run.level)
    model = LanguageModel(
        backbone, preprocessor, end_token=run.end_token, backbone_arguments=arguments
    )
    if compile:
        model.compile_default()
    return model
