"""A run directory: what `lstm-zoo train` writes and `evaluate`, `generate`, `export` and
`inspect` read back.

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
    for name in (RUN_FILE, VOCABULARY_FILE) + ((MODEL_FILE,) if with_model else ()):
        if not (directory / name).exists():
            raise ValueError(f"{directory}: not a run directory of lstm-zoo train (no {name})")
    try:
        description = json.loads((directory / RUN_FILE).read_text())
        vocabulary = json.loads((directory / VOCABULARY_FILE).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{directory}: corrupt run files ({error})") from None
    run = Run(vocabulary=vocabulary, **description)
    model = None
    if with_model:
        import lstm_zoo.layers  # noqa: F401  (registers the zoo's classes for loading)
        import lstm_zoo.models.tagger  # noqa: F401

        model = keras.saving.load_model(directory / MODEL_FILE, safe_mode=True)
    return run, model
