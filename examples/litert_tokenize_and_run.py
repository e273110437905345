"""A LiteRT text classifier: export with lstm_zoo, then tokenize in plain Python and run the
interpreter with nothing but numpy, json and ai-edge-litert (what a phone app does).

A LiteRT model takes token ids, not strings: `export_litert` writes the vocabulary (and the
exported batch, length and labels) to a JSON file beside the .tflite file.

    python examples/litert_tokenize_and_run.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))


def export(directory):
    """The training side: a (here untrained) classifier over a small vocabulary -> .tflite."""
    import keras

    from lstm_zoo.litert import export_litert
    from lstm_zoo.models import sentiment_classifier

    vocabulary = ["<pad>", "<unk>", "a", "fine", "witty", "film", "dull", "plot", "the"]
    keras.utils.set_random_seed(0)
    model = sentiment_classifier(vocab_size=len(vocabulary), embedding_dim=8, units=8)
    info = export_litert(
        model,
        os.path.join(directory, "classifier.tflite"),
        sequence_length=12,
        batch_size=2,
        quantization="dynamic_int8",
        vocabulary=vocabulary,
        labels=["negative", "positive"],
        lowercase=True,
    )
    print(f"exported {info.path}: {info.size_bytes:,} bytes, ops {', '.join(info.ops)}")
    return info.path, info.metadata_path


def tokenize(texts, metadata):
    """Whitespace tokens -> ids, unknown words -> "<unk>", padded with 0 to the exported
    [batch, length] (the same as lstm_zoo.data.classification.encode_texts)."""
    import numpy as np

    index = {token: i for i, token in enumerate(metadata["vocabulary"])}
    ids = np.zeros([metadata["batch_size"], metadata["sequence_length"]], np.int32)
    for row, text in enumerate(texts):
        words = text.lower().split() if metadata["lowercase"] else text.split()
        if len(words) > metadata["sequence_length"]:
            raise ValueError(f"text {row} is longer than the exported length")
        ids[row, : len(words)] = [index.get(w, index["<unk>"]) for w in words]
    return ids


def classify(model_path, metadata_path, texts):
    """The device side: no TensorFlow, no lstm_zoo."""
    from ai_edge_litert.interpreter import Interpreter

    with open(metadata_path, encoding="utf-8") as file:
        metadata = json.load(file)
    interpreter = Interpreter(model_path=model_path, num_threads=1)
    classify_ids = interpreter.get_signature_runner()
    probabilities = classify_ids(tokens=tokenize(texts, metadata))["probabilities"]
    for text, p in zip(texts, probabilities[:, 0]):
        label = metadata["labels"][int(p > 0.5)]
        print(f"{text!r}: P(positive) = {p:.3f} -> {label}")


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as directory:
        model_path, metadata_path = export(directory)
        classify(model_path, metadata_path, ["A fine , witty film", "the plot is dull"])
