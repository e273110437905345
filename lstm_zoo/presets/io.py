"""`save_to_preset` and `from_preset`: a task model to and from a preset directory.

config.json holds what rebuilds the model: the task class, the backbone's factory (one of
`lstm_zoo.models`) and its arguments, the task's arguments (labels, tags, end token) and the
preprocessor's settings; the vocabulary is the asset file. Overrides at load time change the
head (`num_classes=` / `labels=` for a classifier, `tags=` for a tagger: the pretrained
encoder is kept, the head starts fresh, as keras-hub does) or other backbone arguments
(e.g. `dropout=`) that leave every weight's shape as it was.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import keras

from lstm_zoo.presets.registry import directory_size, preset_path
from lstm_zoo.text import TextPreprocessor, Vocabulary
from lstm_zoo.text.tokenizer import LEVELS

FORMAT = "lstm_zoo.preset/1"
CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE = "config.json", "model.weights.h5", "metadata.json"
VOCABULARY_FILE = "assets/tokenizer/vocabulary.txt"
CHARACTERS_FILE = "assets/tokenizer/characters.json"  # character-feature taggers only
FILES = (CONFIG_FILE, WEIGHTS_FILE, METADATA_FILE, VOCABULARY_FILE)
WEIGHTS_DTYPES = ("float32", "float16")


def _task_classes():
    from lstm_zoo.models import LanguageModel, SequenceTagger, TextClassifier

    return {cls.__name__: cls for cls in (TextClassifier, SequenceTagger, LanguageModel)}


def save_to_preset(model, path, metadata=None, overwrite=False, weights_dtype="float32"):
    """Write `model` (a task model built with `<Task>.build` or loaded from a preset) as a
    preset directory.

    Args:
        model: `TextClassifier`, `SequenceTagger` or `LanguageModel`.
        path: str or Path. A new or empty directory (or any, with `overwrite=True`).
        metadata: dict. Merged into metadata.json (e.g. "data", "training_command",
            "metrics", "data_license", "description").
        weights_dtype: "float32" or "float16". How model.weights.h5 stores the floating-point
            weights; float16 halves the file, and `from_preset` loads it into the model's own
            dtype (each weight then differs from the saved one by at most half a float16
            step, 2^-11 relative). Measure your metric after the round trip before shipping.

    Returns:
        The Path of the preset.
    """
    if weights_dtype not in WEIGHTS_DTYPES:
        raise ValueError(f"weights_dtype must be one of {WEIGHTS_DTYPES}; got {weights_dtype!r}")
    classes = _task_classes()
    if type(model).__name__ not in classes:
        raise ValueError(f"model must be one of {sorted(classes)}; got {type(model).__name__}")
    arguments = getattr(model, "backbone_arguments", None)
    if arguments is None:
        raise ValueError(
            "the model's backbone arguments are unknown: build it with "
            f"{type(model).__name__}.build(...) or load it with from_preset"
        )
    path = Path(path)
    if path.exists() and (not path.is_dir() or (any(path.iterdir()) and not overwrite)):
        raise ValueError(f"{path}: exists and is not an empty directory; pass overwrite=True")
    (path / "assets" / "tokenizer").mkdir(parents=True, exist_ok=True)
    config = {
        "format": FORMAT,
        "class_name": type(model).__name__,
        "backbone": {
            "factory": model.backbone_factory.__name__,
            "arguments": arguments,
        },
        "task_arguments": model.preset_arguments(),
        "preprocessor": {
            "lowercase": model.preprocessor.lowercase,
            "level": model.preprocessor.level,
        },
    }
    (path / CONFIG_FILE).write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n")
    model.preprocessor.vocabulary.save(path / VOCABULARY_FILE)
    if getattr(model.preprocessor, "characters", None) is not None:  # character features
        (path / CHARACTERS_FILE).write_text(
            json.dumps(model.preprocessor.characters, ensure_ascii=False) + "\n"
        )
    model.backbone.save_weights(path / WEIGHTS_FILE)  # no optimizer state
    if weights_dtype == "float16":
        store_weights_as_float16(path / WEIGHTS_FILE)
    import lstm_zoo
    from lstm_zoo.text.tokenizer import UNICODE_VERSION

    description = {
        "name": path.name,
        "task": model.task_name,
        "lstm_zoo_version": lstm_zoo.__version__,
        "keras_version": keras.__version__,
        "unicode_version": UNICODE_VERSION,
        "parameters": int(model.count_params()),
        "weights_dtype": weights_dtype,
        **(metadata or {}),
    }
    (path / METADATA_FILE).write_text(json.dumps(description, indent=2, ensure_ascii=False) + "\n")
    description["size_bytes"] = directory_size(path)
    (path / METADATA_FILE).write_text(json.dumps(description, indent=2, ensure_ascii=False) + "\n")
    return path


def store_weights_as_float16(path):
    """Rewrite a Keras .weights.h5 file with its float32 arrays stored as float16 (groups,
    attributes and other arrays as they were); written beside it, then renamed over it."""
    import os

    import h5py
    import numpy as np

    path = Path(path)
    partial = path.with_name(path.name + ".partial")

    def copy(source, target):
        target.attrs.update(dict(source.attrs))
        for key, item in source.items():
            if isinstance(item, h5py.Group):
                copy(item, target.create_group(key))
                continue
            data = item[()]
            if isinstance(data, np.ndarray) and data.dtype == np.float32:
                data = data.astype(np.float16)
            target.create_dataset(key, data=data).attrs.update(dict(item.attrs))

    with h5py.File(path, "r") as source, h5py.File(partial, "w") as target:
        copy(source, target)
    os.replace(partial, path)


def load_metadata(preset):
    """metadata.json of a preset (name or path) as a dict."""
    path = preset_path(preset)
    return _read_json(path / METADATA_FILE)


def _from_run_directory(path, task_class, overrides):
    """The task model of a run directory of `lstm-zoo train` (`runs.load_task_model`)."""
    from lstm_zoo.runs import load_task_model

    if overrides:
        raise ValueError(
            f"{path}: a run directory of lstm-zoo train loads as it was trained; a new head "
            f"({', '.join(sorted(overrides))}) goes on a preset, not on a run"
        )
    model = load_task_model(path)[1]
    if task_class is not None and not isinstance(model, task_class):
        raise ValueError(
            f"{path}: a {type(model).__name__} run, not a {task_class.__name__}; load it with "
            f"{type(model).__name__}.from_preset"
        )
    return model


def from_preset(preset, task_class=None, **overrides):
    """The task model of a preset, its weights loaded, compiled with the task's
    `compile_default()` (call `compile` again for other settings).

    Args:
        preset: a bundled preset name (`available_presets()`), a preset directory or a run
            directory of `lstm-zoo train` (loaded by `lstm_zoo.runs.load_task_model`; no
            overrides).
        task_class: the class asked for (`TextClassifier.from_preset` passes it); a preset
            of another task is an error.
        **overrides: `num_classes=` or `labels=` (classifier), `tags=` (tagger): a new head
            over the pretrained encoder; other backbone arguments of the factory (e.g.
            `dropout=0.3`) if they change no weight's shape.

    Raises:
        ValueError: naming the file that is missing or malformed, an override that is
            unknown, or one that would change a pretrained weight's shape.
    """
    path = preset_path(preset)
    if (path / "run.json").is_file() and not (path / CONFIG_FILE).is_file():
        return _from_run_directory(path, task_class, overrides)
    for name in FILES:
        if not (path / name).is_file():
            raise ValueError(
                f"{path / name}: missing (a preset directory needs {', '.join(FILES)})"
            )
    config = _check_config(path / CONFIG_FILE, _read_json(path / CONFIG_FILE))
    _read_json(path / METADATA_FILE)
    cls = _task_classes()[config["class_name"]]
    if task_class is not None and not issubclass(cls, task_class):
        raise ValueError(
            f"{path}: a {cls.__name__} preset, not a {task_class.__name__}; load it with "
            f"{cls.__name__}.from_preset"
        )
    vocabulary = Vocabulary.load(path / VOCABULARY_FILE)
    settings = config["preprocessor"]
    characters = _read_json(path / CHARACTERS_FILE) if (path / CHARACTERS_FILE).exists() else None
    preprocessor = TextPreprocessor(
        vocabulary, settings["lowercase"], settings["level"], characters=characters
    )
    arguments = config["backbone"]["arguments"]
    task_arguments = config["task_arguments"]
    try:
        pretrained = _build(cls, arguments, preprocessor, task_arguments)
    except (ValueError, TypeError) as error:
        raise ValueError(f"{path / CONFIG_FILE}: malformed ({error})") from None
    try:
        pretrained.backbone.load_weights(path / WEIGHTS_FILE)
    except (ValueError, OSError, KeyError, TypeError) as error:
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"{path / WEIGHTS_FILE}: cannot be loaded ({message})") from None
    if not overrides:
        pretrained.compile_default()
        return pretrained
    new_arguments, new_task_arguments, new_head = _apply_overrides(
        cls, arguments, task_arguments, overrides, path
    )
    model = _build(cls, new_arguments, preprocessor, new_task_arguments)
    _transfer(pretrained.backbone, model.backbone, cls.head_layers if new_head else (), overrides)
    model.compile_default()
    return model


def _build(cls, arguments, preprocessor, task_arguments):
    factory = cls.backbone_factory
    kwargs = dict(arguments)
    if cls.__name__ == "SequenceTagger":
        kwargs["num_tags"] = len(task_arguments["tags"])
    elif cls.__name__ == "TextClassifier":
        kwargs["num_classes"] = len(task_arguments["labels"])
    return cls(factory(**kwargs), preprocessor, backbone_arguments=arguments, **task_arguments)


def _apply_overrides(cls, arguments, task_arguments, overrides, path):
    arguments, task_arguments, overrides = dict(arguments), dict(task_arguments), dict(overrides)
    new_head = False
    if cls.__name__ == "TextClassifier":
        if "num_classes" in overrides and "labels" not in overrides:
            overrides["labels"] = [str(i) for i in range(overrides.pop("num_classes"))]
        elif "num_classes" in overrides:
            if overrides.pop("num_classes") != len(overrides["labels"]):
                raise ValueError("num_classes and labels disagree")
        if "labels" in overrides:
            task_arguments["labels"] = list(overrides.pop("labels"))
            new_head = True
    if cls.__name__ == "SequenceTagger" and "tags" in overrides:
        task_arguments["tags"] = list(overrides.pop("tags"))
        new_head = True
    if cls.__name__ == "LanguageModel" and "end_token" in overrides:
        task_arguments["end_token"] = overrides.pop("end_token")
    known = set(inspect.signature(cls.backbone_factory).parameters) - {
        "embeddings",
        "vocab_size",
        "num_tags",
        "num_classes",
        "name",
    }
    unknown = sorted(set(overrides) - known)
    if unknown:
        head = {"TextClassifier": "num_classes, labels", "SequenceTagger": "tags"}.get(
            cls.__name__, "end_token"
        )
        raise ValueError(
            f"unknown override {unknown[0]!r} for preset {path.name}; it takes {head} or the "
            f"{cls.backbone_factory.__name__} arguments {', '.join(sorted(known))}"
        )
    arguments.update(overrides)
    return arguments, task_arguments, new_head


def _transfer(source, target, head_layers, overrides):
    """Copy every pretrained layer's weights into `target` except the head layers."""
    for layer in target.layers:
        if layer.name in head_layers or not layer.weights:
            continue
        try:
            old = source.get_layer(layer.name)
        except ValueError:
            continue
        values = old.get_weights()
        shapes = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != shapes:
            raise ValueError(
                f"the overrides {sorted(overrides)} change the shape of layer {layer.name!r}; "
                "the pretrained weights do not fit it"
            )
        layer.set_weights(values)


def _read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: malformed (not UTF-8 text)") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: malformed JSON ({error})") from None


def _check_config(path, config):
    """ValueError naming config.json and the field that is wrong."""

    def fail(what):
        raise ValueError(f"{path}: malformed ({what})")

    if not isinstance(config, dict):
        fail(f"a JSON object expected, got {type(config).__name__}")
    if config.get("format") != FORMAT:
        fail(f"format {config.get('format')!r} is not {FORMAT!r}")
    classes = _task_classes()
    if config.get("class_name") not in classes:
        fail(f"class_name {config.get('class_name')!r} is not one of {sorted(classes)}")
    cls = classes[config["class_name"]]
    backbone = config.get("backbone")
    if not isinstance(backbone, dict) or not isinstance(backbone.get("arguments"), dict):
        fail("backbone.arguments must be an object")
    if backbone.get("factory") != cls.backbone_factory.__name__:
        fail(
            f"backbone.factory {backbone.get('factory')!r} is not "
            f"{cls.backbone_factory.__name__!r} (what {cls.__name__} builds on)"
        )
    if not isinstance(config.get("task_arguments"), dict):
        fail("task_arguments must be an object")
    settings = config.get("preprocessor")
    if not isinstance(settings, dict) or not isinstance(settings.get("lowercase"), bool):
        fail("preprocessor.lowercase must be true or false")
    if settings.get("level") not in LEVELS:
        fail(f"preprocessor.level {settings.get('level')!r} is not one of {LEVELS}")
    return config
