"""Sentiment (text) classifiers over masked, optionally pretrained, word embeddings."""

from __future__ import annotations

import keras

from lstm_zoo.layers.bidirectional import Bidirectional
from lstm_zoo.layers.embedding import token_embedding
from lstm_zoo.layers.pooling import MaskedGlobalPooling1D
from lstm_zoo.layers.registry import recurrent_layer
from lstm_zoo.validation import check_bool, check_int, check_number


def sentiment_classifier(
    embeddings=None,
    vocab_size=None,
    embedding_dim=100,
    cell="lstm",
    bidirectional=False,
    units=64,
    num_layers=1,
    trainable_embeddings=False,
    num_classes=2,
    dropout=0.0,
    hidden_units=None,
    recurrent_kwargs=None,
    pooling="last",
    embedding_dropout=0.0,
    name="sentiment_classifier",
):
    """Token ids [batch, time] (0 = padding) -> class probabilities.

    Embedding (pretrained `embeddings` matrix or trained from scratch, `mask_zero=True`) ->
    num_layers recurrent layers (bidirectional: each a `lstm_zoo.layers.Bidirectional`, whose
    final states concatenate the forward state after the last real token and the backward
    state after the first: padding never reaches them) -> optional Dense(hidden_units, relu)
    -> Dropout -> Dense(1, sigmoid) for two classes, Dense(num_classes, softmax) otherwise.
    With `pooling="max"` or `"mean"` the last recurrent layer returns every step and its
    outputs are pooled over the real (unmasked) steps instead (long texts: IMDB).

    Args:
        embeddings: float array [vocab, dim] or None. Pretrained vectors (row 0 = padding).
        vocab_size: int. Needed when `embeddings` is None.
        embedding_dim: int. Width of trained-from-scratch embeddings.
        cell: str. A recurrent-layer registry name.
        trainable_embeddings: bool. Fine-tune pretrained vectors (always True from scratch).
        num_classes: int. 2 gives one sigmoid unit.
        dropout: float. Dropout before the output layer (and between recurrent layers).
        hidden_units: int or None. A ReLU layer before the output.
        recurrent_kwargs: dict. Passed to every recurrent layer (e.g. its own `dropout` and
            `recurrent_dropout`).
        pooling: "last" (final states), "max" or "mean" (masked pooling over time of the last
            layer's outputs, `lstm_zoo.layers.MaskedGlobalPooling1D`).
        embedding_dropout: float. Dropout on the embedded tokens (per step and feature).
    """
    check_int("num_classes", num_classes, low=2)
    check_int("num_layers", num_layers, low=1)
    check_int("hidden_units", hidden_units, none=True)
    check_number("dropout", dropout, 0.0, 1.0, high_open=True)
    check_number("embedding_dropout", embedding_dropout, 0.0, 1.0, high_open=True)
    check_bool("bidirectional", bidirectional)
    if recurrent_kwargs is not None and not isinstance(recurrent_kwargs, dict):
        raise ValueError(f"recurrent_kwargs must be a dict or None; got {recurrent_kwargs!r}")
    if pooling not in ("last", "max", "mean"):
        raise ValueError(f"pooling must be 'last', 'max' or 'mean'; got {pooling!r}")

    # Layers.
    embedding = token_embedding(vocab_size, embeddings, embedding_dim, trainable_embeddings)
    encoder = []
    for index in range(num_layers):
        last = index == num_layers - 1
        layer = recurrent_layer(
            cell,
            units,
            return_sequences=not last or pooling != "last",
            name=f"encoder_{index}",
            **(recurrent_kwargs or {}),
        )
        if bidirectional:
            layer = Bidirectional(layer, name=f"bidirectional_{index}")
        encoder.append(layer)
    hidden = keras.layers.Dense(hidden_units, "relu", name="hidden") if hidden_units else None
    if num_classes == 2:
        head = keras.layers.Dense(1, "sigmoid", name="probabilities")
    else:
        head = keras.layers.Dense(num_classes, "softmax", name="probabilities")

    # Functional graph.
    inputs = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = embedding(inputs)
    if embedding_dropout:
        x = keras.layers.Dropout(embedding_dropout, name="embedding_dropout")(x)
    for index, layer in enumerate(encoder):
        x = layer(x)
        if dropout and index < num_layers - 1:
            x = keras.layers.Dropout(dropout, name=f"encoder_{index}_dropout")(x)
    if pooling != "last":
        x = MaskedGlobalPooling1D(pooling, name=f"{pooling}_pooling")(x)
    if hidden is not None:
        x = hidden(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    return keras.Model(inputs, head(x), name=name)


def compile_sentiment_classifier(model, learning_rate=1e-3):
    """Adam, binary or sparse categorical cross-entropy and accuracy, by the head's width."""
    binary = model.output_shape[-1] == 1
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy",
        metrics=["binary_accuracy" if binary else "sparse_categorical_accuracy"],
    )
    return model


def sentiment_classifier_from_preset(name, embeddings=None, vocab_size=None, **overrides):
    """`sentiment_classifier` with the arguments of the preset `name` (see presets.py);
    keyword `overrides` win (e.g. cell="peephole", num_classes=len(vocabulary)); a
    `recurrent_kwargs` override is merged into the preset's."""
    import inspect

    from lstm_zoo.models.presets import sentiment_preset

    arguments = sentiment_preset(name)
    known = set(inspect.signature(sentiment_classifier).parameters) - {"embeddings", "vocab_size"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(
            f"unknown override {unknown[0]!r} for preset {name!r}; sentiment_classifier takes "
            f"{', '.join(sorted(known))}"
        )
    recurrent_kwargs = {**arguments.pop("layer_kwargs"), **overrides.pop("recurrent_kwargs", {})}
    arguments.update(overrides)
    return sentiment_classifier(
        embeddings=embeddings,
        vocab_size=vocab_size,
        recurrent_kwargs=recurrent_kwargs,
        name=name,
        **arguments,
    )
