"""`TextClassifier`: raw texts -> class probabilities, over a `sentiment_classifier` backbone.

Example:

>>> classifier = TextClassifier.build(["<pad>", "<unk>", "good", "bad"], ["neg", "pos"],
...                                   units=4, embedding_dim=4)
>>> classifier.compile_default()
>>> classifier.fit(["good", "bad"], ["pos", "neg"], epochs=1, verbose=0)  # doctest: +SKIP
>>> classifier.predict_labels(["good film"])  # doctest: +SKIP
['pos']
"""

from __future__ import annotations

import keras
import numpy as np

from lstm_zoo.models.sentiment import sentiment_classifier
from lstm_zoo.models.task import Task, json_arguments
from lstm_zoo.text import TextPreprocessor, Vocabulary
from lstm_zoo.validation import check_labels


@keras.saving.register_keras_serializable(package="lstm_zoo")
class TextClassifier(Task):
    """Texts -> class probabilities [batch, classes] (two classes: one sigmoid unit
    [batch, 1], as the backbone gives them).

    Args:
        backbone: a `sentiment_classifier` model.
        preprocessor: `TextPreprocessor`.
        labels: list of str. Class names in id order; `fit`/`evaluate` take them (or ids) as y.
    """

    head_layers = ("probabilities",)
    backbone_factory = staticmethod(sentiment_classifier)
    task_name = "text_classifier"

    def __init__(self, backbone, preprocessor, labels=None, **kwargs):
        super().__init__(backbone, preprocessor, **kwargs)
        width = backbone.output_shape[-1]
        classes = 2 if width == 1 else width
        labels = [str(i) for i in range(classes)] if labels is None else labels
        self.labels = list(check_labels("labels", labels))
        if len(self.labels) != classes:
            raise ValueError(f"the backbone has {classes} classes; got {len(self.labels)} labels")

    @classmethod
    def build(cls, vocabulary, labels, lowercase=True, level="word", **backbone_kwargs):
        """A new classifier: `sentiment_classifier(vocab_size=len(vocabulary),
        num_classes=len(labels), **backbone_kwargs)` behind a `TextPreprocessor` (`level`
        "word" or "word_punct": see `lstm_zoo.text.tokenizer`)."""
        vocabulary = vocabulary if isinstance(vocabulary, Vocabulary) else Vocabulary(vocabulary)
        backbone = sentiment_classifier(
            vocab_size=len(vocabulary), num_classes=len(labels), **backbone_kwargs
        )
        return cls(
            backbone,
            TextPreprocessor(vocabulary, lowercase=lowercase, level=level),
            labels=labels,
            backbone_arguments=json_arguments(backbone_kwargs, len(vocabulary)),
        )

    def compile_default(self, learning_rate=1e-3):
        """Adam, (binary or sparse) cross-entropy and accuracy, as
        `compile_sentiment_classifier` compiles the backbone."""
        binary = self.backbone.output_shape[-1] == 1
        self.compile(
            optimizer=keras.optimizers.Adam(learning_rate),
            loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
            metrics=["binary_accuracy" if binary else "sparse_categorical_accuracy"],
        )

    def _labels_to_ids(self, y):
        y = np.asarray(y)
        if y.dtype.kind in "US" or y.dtype == object:
            index = {label: i for i, label in enumerate(self.labels)}
            unknown = next((str(v) for v in y if str(v) not in index), None)
            if unknown is not None:
                raise ValueError(f"unknown label {unknown!r}; the labels are {self.labels}")
            y = np.array([index[str(v)] for v in y], dtype=np.int32)
        return y

    def probabilities(self, texts, batch_size=None):
        """[batch, classes] probabilities (a sigmoid head's p becomes [1 - p, p])."""
        p = np.asarray(self.predict(texts, batch_size=batch_size, verbose=0))
        return np.concatenate([1.0 - p, p], axis=-1) if p.shape[-1] == 1 else p

    def predict_labels(self, texts, batch_size=None):
        """The most probable label name of each text."""
        return [self.labels[i] for i in self.probabilities(texts, batch_size).argmax(-1)]

    def export(self, path, **kwargs):
        """A raw-string SavedModel (`classify` signature, see `lstm_zoo.export`)."""
        from lstm_zoo.export import export_saved_model

        return export_saved_model(
            self.backbone,
            path,
            "classify",
            self.preprocessor.vocabulary.tokens,
            labels=self.labels,
            lowercase=self.preprocessor.lowercase,
            level=self.preprocessor.level,
            text_rule="lstm_zoo.text",
            **kwargs,
        )

    def preset_arguments(self):
        return {"labels": self.labels}

    def get_config(self):
        return {**super().get_config(), "labels": self.labels}
