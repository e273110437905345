"""`SequenceTagger`: sentences (raw or pre-split words) -> one tag per word, over a
`sequence_tagger` backbone (softmax or CRF head); span metrics for chunk tag sets.

For a chunk tag set (BIO/IOB1 or BIOES: "B-PER", "I-PER", "O") `evaluate` adds conlleval's
span precision/recall/F1, overall (`span_f1`, ...) and per type (`span_f1_PER`, ...), and
`fit` with `validation_data` adds them each epoch as `val_span_*` (printed, and in the
History); for other tag sets (UPOS) token accuracy is the measure.

Example:

>>> tagger = SequenceTagger.build(["<pad>", "<unk>", "john", "runs"], ["B-PER", "O"], units=4)
>>> tagger.compile_default()
>>> tagger.predict_tags([["John", "runs"]])  # doctest: +SKIP
[['B-PER', 'O']]
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from lstm_zoo.models.spans import chunk_scheme, span_metrics
from lstm_zoo.models.tagger import compile_tagger, sequence_tagger
from lstm_zoo.models.task import DEFAULT_BATCH_SIZE, Task, json_arguments
from lstm_zoo.text import TextPreprocessor, Vocabulary
from lstm_zoo.validation import check_labels


@keras.saving.register_keras_serializable(package="lstm_zoo")
class SequenceTagger(Task):
    """Sentences -> tag probabilities [batch, words, tags] (CRF: {"emissions", "tags"}).

    Args:
        backbone: a `sequence_tagger` model (word ids in, or {"tokens", "characters"} with
            char_features=True).
        preprocessor: `TextPreprocessor` (word level; with `characters` for a
            character-feature backbone: words may be lowercased, characters keep case).
        tags: list of str. Tag names in id order; `fit`/`evaluate` take tag names or ids.
    """

    head_layers = ("tag_probabilities", "emissions", "crf")
    backbone_factory = staticmethod(sequence_tagger)
    task_name = "sequence_tagger"
    _ragged_batches = True

    def __init__(self, backbone, preprocessor, tags, **kwargs):
        super().__init__(backbone, preprocessor, **kwargs)
        self.char_features = isinstance(backbone.input, dict)
        if self.char_features != (preprocessor.characters is not None):
            raise ValueError(
                "a character-feature backbone needs a preprocessor with `characters` (and "
                "a word-id backbone one without)"
            )
        self.crf = isinstance(backbone.output, dict)
        output = backbone.output["emissions"] if self.crf else backbone.output
        self.tags = list(check_labels("tags", tags))
        if output.shape[-1] != len(self.tags):
            raise ValueError(f"the backbone has {output.shape[-1]} tags; got {len(self.tags)}")
        self.scheme = chunk_scheme(self.tags)
        self._tag_index = {t: i for i, t in enumerate(self.tags)}
        with tf.init_scope():
            self._tag_table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(self.tags), tf.range(len(self.tags), dtype=tf.int32)
                ),
                default_value=-1,
            )

    @classmethod
    def build(cls, vocabulary, tags, lowercase=False, characters=None, **backbone_kwargs):
        """A new tagger: `sequence_tagger(len(tags), vocab_size=len(vocabulary), ...)`;
        `characters` (a character vocabulary, "<pad>", "<unk>" first) turns on
        char_features with char_vocab_size=len(characters)."""
        vocabulary = vocabulary if isinstance(vocabulary, Vocabulary) else Vocabulary(vocabulary)
        if characters is not None:
            backbone_kwargs = {
                **backbone_kwargs,
                "char_features": True,
                "char_vocab_size": len(characters),
            }
        backbone = sequence_tagger(len(tags), vocab_size=len(vocabulary), **backbone_kwargs)
        return cls(
            backbone,
            TextPreprocessor(vocabulary, lowercase=lowercase, characters=characters),
            tags=tags,
            backbone_arguments=json_arguments(backbone_kwargs, len(vocabulary)),
        )

    def compile_default(self, learning_rate=1e-3):
        """Adam with token cross-entropy and `TokenAccuracy` (CRF: its log-likelihood)."""
        if self.crf:
            self.compile(optimizer=keras.optimizers.Adam(learning_rate))
        else:
            compile_tagger(self, learning_rate)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self.crf:
            return self.backbone.compute_loss(x, y, y_pred, sample_weight, training)
        return super().compute_loss(x, y, y_pred, sample_weight, training)

    # Inputs: raw sentences or word lists; tags as names or ids.

    def _is_text(self, x):
        if isinstance(x, (list, tuple)) and x and isinstance(x[0], (list, tuple)):
            return bool(x[0]) and isinstance(x[0][0], str)
        return super()._is_text(x)

    def _text_slices(self, x):
        if isinstance(x, (list, tuple)) and isinstance(x[0], (list, tuple)):
            empty = next((i for i, words in enumerate(x) if not words), None)
            if empty is not None:
                raise ValueError(f"sentence {empty} has no words")
            return tf.ragged.constant([list(map(str, words)) for words in x], dtype=tf.string)
        return super()._text_slices(x)

    def _labels_to_ids(self, y):
        rows = []
        for number, tags in enumerate(y):
            if isinstance(tags, str):
                raise ValueError(f"sentence {number}: tags must be a list; got {tags!r}")
            ids = []
            for tag in tags:
                if isinstance(tag, str):
                    if tag not in self._tag_index:
                        raise ValueError(
                            f"sentence {number}: unknown tag {tag!r}; the tags are {self.tags}"
                        )
                    tag = self._tag_index[tag]
                ids.append(int(tag))
            rows.append(ids)
        return tf.ragged.constant(rows, dtype=tf.int32)

    def _labels_in_graph(self, y):
        if y.dtype == tf.string:
            y = (
                y.with_flat_values(self._tag_table.lookup(y.flat_values))
                if isinstance(y, tf.RaggedTensor)
                else self._tag_table.lookup(y)
            )
        if isinstance(y, tf.RaggedTensor):
            y = y.to_tensor(0)
        return tf.cast(y, tf.int32)

    # Predictions as tags.

    def tag_ids(self, inputs):
        """Ids [batch, words] -> predicted tag ids [batch, words] (NumPy)."""
        output = self(inputs, training=False)
        if self.crf:
            return keras.ops.convert_to_numpy(output["tags"]).astype(np.int32)
        return keras.ops.convert_to_numpy(keras.ops.argmax(output, axis=-1)).astype(np.int32)

    def predict_tags(self, sentences, batch_size=None):
        """Tag names per word of each sentence (raw strings or word lists)."""
        data, _, _ = self._adapt(sentences, None, batch_size, with_labels=False)
        out = []
        for ids in _as_batches(data, None, batch_size):
            for row, tag_row in zip(_tokens(ids), self.tag_ids(ids)):
                out.append([self.tags[t] for t in tag_row[row != 0]])
        return out

    # Span metrics.

    def tag_sequences(self, x, y=None, batch_size=None):
        """(true, predicted) tag-name lists per sentence of labelled data (sentences and
        tags, ids and tag ids, or a dataset of either); padding (id 0) is left out."""
        data, y, batch_size = self._adapt(x, y, batch_size)
        truth, guess = [], []
        for inputs, tags in _as_batches(data, y, batch_size):
            tags = np.asarray(tags)
            for row, true_row, guess_row in zip(_tokens(inputs), tags, self.tag_ids(inputs)):
                real = row != 0
                truth.append([self.tags[t] for t in true_row[real]])
                guess.append([self.tags[t] for t in guess_row[real]])
        return truth, guess

    def span_metrics(self, x, y=None, batch_size=None):
        """conlleval scores on (x, y) as flat {"span_f1", "span_precision", "span_recall",
        "span_precision_<TYPE>", "span_recall_<TYPE>", "span_f1_<TYPE>", ...}
        (`lstm_zoo.models.spans.span_metrics`); {} for a tag set that is not a chunk tag
        set."""
        if self.scheme is None:
            return {}
        return span_metrics(*self.tag_sequences(x, y, batch_size), self.tags)

    def evaluate(self, x=None, y=None, batch_size=None, return_dict=False, **kwargs):
        """Keras's metrics plus, for chunk tag sets, the span metrics (appended in that order
        when `return_dict=False`)."""
        data, labels, size = self._adapt(x, y, batch_size)
        results = super().evaluate(data, labels, batch_size=size, return_dict=True, **kwargs)
        results.update(self.span_metrics(data, labels, size))
        return results if return_dict else list(results.values())

    def fit(self, x=None, y=None, batch_size=None, validation_data=None, **kwargs):
        callbacks = list(kwargs.pop("callbacks", None) or [])
        if validation_data is not None and self.scheme is not None:
            validation = self._adapt_validation(validation_data, batch_size)
            callbacks.insert(0, SpanMetricsCallback(validation, kwargs.get("verbose", "auto")))
            validation_data = validation
        return super().fit(
            x, y, batch_size, validation_data=validation_data, callbacks=callbacks, **kwargs
        )

    def export(self, path, **kwargs):
        """A raw-string SavedModel (`tag`, `tag_tokens` signatures, see `lstm_zoo.export`;
        a character-feature tagger looks its characters up in graph too)."""
        from lstm_zoo.export import export_saved_model

        return export_saved_model(
            self.backbone,
            path,
            "tag",
            self.preprocessor.vocabulary.tokens,
            labels=self.tags,
            characters=self.preprocessor.characters,
            lowercase=self.preprocessor.lowercase,
            text_rule="lstm_zoo.text",
            **kwargs,
        )

    def preset_arguments(self):
        return {"tags": self.tags}

    def get_config(self):
        return {**super().get_config(), "tags": self.tags}


class SpanMetricsCallback(keras.callbacks.Callback):
    """Adds `val_span_*` (conlleval, on the validation data) to each epoch's logs.

    Placed before Keras's progress bar and History, so both show them."""

    def __init__(self, validation_data, verbose="auto"):
        super().__init__()
        self.validation_data = validation_data
        self.verbose = verbose

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        data = self.validation_data
        x, y = (data, None) if isinstance(data, tf.data.Dataset) else data
        for key, value in self.model.span_metrics(x, y).items():
            logs[f"val_{key}"] = value


def _tokens(inputs):
    """The word ids [batch, words] of a batch of model inputs (NumPy)."""
    return np.asarray(inputs["tokens"] if isinstance(inputs, dict) else inputs)


def _as_batches(x, y, batch_size):
    """Yield NumPy batches: (inputs, labels) when labelled, else inputs."""
    if isinstance(x, tf.data.Dataset):
        for element in x.as_numpy_iterator():
            if isinstance(element, tuple):
                yield element[:2] if len(element) > 1 else element[0]
            else:
                yield element
        return
    size = batch_size or DEFAULT_BATCH_SIZE
    if isinstance(x, dict):
        x = {k: np.asarray(v) for k, v in x.items()}
        count = len(x["tokens"])
    else:
        x = np.asarray(x)
        count = len(x)
    for start in range(0, count, size):
        part = (
            {k: v[start : start + size] for k, v in x.items()}
            if isinstance(x, dict)
            else x[start : start + size]
        )
        yield part if y is None else (part, np.asarray(y)[start : start + size])
