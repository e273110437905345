"""`Task`: a keras.Model that owns its preprocessor, so raw text goes in where ids do.

A task = a `TextPreprocessor` (tokenizer rule + vocabulary) + a backbone (a functional model
of the factories in `lstm_zoo.models`: `sentiment_classifier`, `sequence_tagger`,
`language_model`) + what the task does with them. `fit`, `evaluate` and `predict` take

- ids, exactly as the backbone does (arrays, tensors, `tf.data` of ids): passed through;
- raw strings (a list, a NumPy string array, a string tensor) or a `tf.data.Dataset` whose
  inputs are strings: tokenized in graph (`TextPreprocessor`) inside a `tf.data` map, batched
  by `batch_size` (default 32) when not already a dataset.

Subclasses say how labels are read (`_labels_to_ids`), how a string batch becomes model
inputs (`_strings_to_inputs`), and which backbone layers are the head (`head_layers`, the
layers a preset with a new head leaves freshly initialised).
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from lstm_zoo.text import TextPreprocessor

DEFAULT_BATCH_SIZE = 32


class Task(keras.Model):
    """Base of the task models: preprocessor + backbone.

    Args:
        backbone: keras.Model. Ids in, the task's outputs out (a factory model).
        preprocessor: `lstm_zoo.text.TextPreprocessor`. Its vocabulary must have as many ids
            as the backbone's token embedding.
        backbone_arguments: dict or None. The factory arguments that built the backbone
            (`build` and `from_preset` record them; `save_to_preset` needs them).
    """

    head_layers = ()
    backbone_factory = None  # the factory building the backbone (for presets)

    def __init__(self, backbone, preprocessor, backbone_arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(backbone, keras.Model):
            raise ValueError(f"backbone must be a keras.Model; got {type(backbone).__name__}")
        if not isinstance(preprocessor, TextPreprocessor):
            raise ValueError(
                f"preprocessor must be a lstm_zoo.text.TextPreprocessor; got "
                f"{type(preprocessor).__name__}"
            )
        rows = _embedding_rows(backbone)
        if rows is not None and rows != len(preprocessor.vocabulary):
            raise ValueError(
                f"the preprocessor's vocabulary has {len(preprocessor.vocabulary)} tokens but "
                f"the backbone's token_embedding has {rows} rows"
            )
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.backbone_arguments = None if backbone_arguments is None else dict(backbone_arguments)
        self.built = True  # the backbone is built: weights exist before the first call

    def call(self, inputs, training=None):
        return self.backbone(inputs, training=training)

    # Raw text in fit / evaluate / predict.

    def fit(self, x=None, y=None, batch_size=None, validation_data=None, **kwargs):
        shuffle = kwargs.pop("shuffle", True)
        text = self._is_text(x) or isinstance(x, tf.data.Dataset)  # shuffled by the dataset
        x, y, size = self._adapt(x, y, batch_size, shuffle=shuffle)
        if validation_data is not None:
            validation_data = self._adapt_validation(validation_data, batch_size)
        # Ids: Keras shuffles as it always does; strings and datasets: shuffled already.
        kwargs["shuffle"] = shuffle and not text
        return super().fit(x, y, batch_size=size, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        x, y, batch_size = self._adapt(x, y, batch_size)
        return super().evaluate(x, y, batch_size=batch_size, **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        x, _, batch_size = self._adapt(x, None, batch_size, with_labels=False)
        return super().predict(x, batch_size=batch_size, **kwargs)

    def _adapt_validation(self, data, batch_size):
        if isinstance(data, tf.data.Dataset):
            return self._adapt(data, None, None)[0]
        if isinstance(data, (tuple, list)) and len(data) in (2, 3):
            x, y, _ = self._adapt(data[0], data[1], batch_size or DEFAULT_BATCH_SIZE)
            return x if y is None else (x, y)
        raise ValueError("validation_data must be a tf.data.Dataset or an (x, y) pair")

    def _adapt(self, x, y, batch_size, shuffle=False, with_labels=True):
        """(x, y, batch_size) for keras: string inputs become a tf.data.Dataset of ids."""
        if isinstance(x, tf.data.Dataset):
            spec = x.element_spec
            inputs_spec = spec[0] if isinstance(spec, tuple) else spec
            if not _is_string_spec(inputs_spec):
                return x, y, batch_size
            if y is not None:
                raise ValueError("y must be None when x is a tf.data.Dataset (put labels in it)")
            return x.map(self._map_batch, num_parallel_calls=tf.data.AUTOTUNE), None, None
        if not self._is_text(x):
            return x, y, batch_size
        x = self._text_slices(x)
        if y is not None and with_labels:
            y = self._labels_to_ids(y)
            data = tf.data.Dataset.from_tensor_slices((x, y))
        else:
            data = tf.data.Dataset.from_tensor_slices(x)
        if shuffle:  # strings given: the slices are reshuffled each epoch, as Keras would
            data = data.shuffle(int(x.shape[0]), reshuffle_each_iteration=True)
        size = batch_size or DEFAULT_BATCH_SIZE
        data = data.ragged_batch(size) if self._ragged_batches else data.batch(size)
        data = data.map(self._map_batch, num_parallel_calls=tf.data.AUTOTUNE)
        return data.prefetch(tf.data.AUTOTUNE), None, None

    _ragged_batches = False

    def _map_batch(self, *element):
        inputs = self._strings_to_inputs(element[0])
        if len(element) == 1:
            return self._no_labels(inputs)
        return (inputs, self._labels_in_graph(element[1]), *element[2:])

    def _no_labels(self, inputs):
        return inputs

    def _is_text(self, x):
        if isinstance(x, tf.data.Dataset):
            spec = x.element_spec
            return _is_string_spec(spec[0] if isinstance(spec, tuple) else spec)
        if isinstance(x, str):
            raise ValueError("x must be a list of strings; got one string (wrap it in [ ])")
        if isinstance(x, (tf.Tensor, tf.RaggedTensor)):
            return x.dtype == tf.string
        if isinstance(x, np.ndarray):
            return x.dtype.kind in "US" or (x.dtype == object and x.size and _is_str(x.flat[0]))
        if isinstance(x, (list, tuple)) and x:
            return _is_str(x[0])
        return False

    def _text_slices(self, x):
        if isinstance(x, (tf.Tensor, tf.RaggedTensor)):
            return x
        return tf.constant([str(t) for t in x])

    def _strings_to_inputs(self, texts):
        return self.preprocessor(texts)

    def _labels_to_ids(self, y):
        return np.asarray(y)

    def _labels_in_graph(self, y):
        return y

    # Serialization.

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "preprocessor": keras.saving.serialize_keras_object(self.preprocessor),
            "backbone_arguments": self.backbone_arguments,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("backbone", "preprocessor"):
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

    # Presets (lstm_zoo.presets does the files).

    @classmethod
    def from_preset(cls, preset, **overrides):
        """Load the preset `preset` (a bundled name, a preset directory or a run directory of
        `lstm-zoo train`); see `lstm_zoo.presets.from_preset`. Keyword overrides change the
        head (`num_classes=`, `labels=`, `tags=`) or the backbone's arguments (e.g.
        `dropout=`)."""
        from lstm_zoo.presets import from_preset

        return from_preset(preset, task_class=cls, **overrides)

    def save_to_preset(self, path, metadata=None, overwrite=False, weights_dtype="float32"):
        """Write a preset directory (config.json, model.weights.h5, metadata.json,
        assets/tokenizer/vocabulary.txt); `metadata`: dict merged into metadata.json;
        `weights_dtype="float16"` stores the weights at half the size (see
        `lstm_zoo.presets.save_to_preset`)."""
        from lstm_zoo.presets import save_to_preset

        return save_to_preset(self, path, metadata, overwrite, weights_dtype)

    def preset_arguments(self):
        """The task's own constructor arguments besides backbone and preprocessor."""
        return {}


def json_arguments(arguments, vocabulary_size):
    """Factory arguments as JSON values: a pretrained `embeddings` matrix becomes
    `embedding_dim` (its vectors live on in the weights)."""
    arguments = dict(arguments)
    embeddings = arguments.pop("embeddings", None)
    if embeddings is not None:
        arguments["embedding_dim"] = int(np.shape(embeddings)[1])
    arguments["vocab_size"] = vocabulary_size
    return arguments


def _is_str(value):
    return isinstance(value, (str, np.str_))


def _is_string_spec(spec):
    return isinstance(spec, (tf.TensorSpec, tf.RaggedTensorSpec)) and spec.dtype == tf.string


def _embedding_rows(model):
    try:
        return int(model.get_layer("token_embedding").input_dim)
    except (ValueError, AttributeError, TypeError):
        return None
