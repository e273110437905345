"""Bidirectional recurrent sequence taggers: per-token tag probabilities."""

from __future__ import annotations

import keras
import numpy as np

from lstm_zoo.layers.registry import recurrent_layer


def sequence_tagger(
    num_tags,
    vocab_size=None,
    embeddings=None,
    embedding_dim=100,
    cell="lstm",
    units=100,
    num_layers=1,
    dropout=0.0,
    trainable_embeddings=True,
    recurrent_kwargs=None,
    name="sequence_tagger",
):
    """Word ids [batch, time] (0 = padding) -> tag probabilities [batch, time, num_tags].

    Embedding (mask_zero) -> Dropout -> num_layers x Bidirectional(recurrent layer) ->
    Dropout -> Dense(num_tags, softmax). The padding mask reaches the loss and the metrics,
    so padded positions count in neither (compile with `compile_tagger`).

    Args:
        num_tags: int. Number of tags.
        vocab_size / embeddings: a vocabulary size, or a pretrained [vocab, dim] matrix.
        cell: str. A recurrent-layer registry name.
        units: int. Units of each direction.
        dropout: float. Dropout after the embedding and after every recurrent layer.
        recurrent_kwargs: dict. Passed to every recurrent layer.
    """
    if embeddings is None and vocab_size is None:
        raise ValueError("pass `embeddings` (a pretrained matrix) or `vocab_size`")
    if num_tags < 2:
        raise ValueError(f"num_tags must be at least 2; got {num_tags}")
    if embeddings is not None:
        embeddings = np.asarray(embeddings, dtype="float32")
        vocab_size, embedding_dim = embeddings.shape

    # Layers.
    embedding = keras.layers.Embedding(
        vocab_size,
        embedding_dim,
        mask_zero=True,
        trainable=trainable_embeddings or embeddings is None,
        embeddings_initializer=(
            keras.initializers.Constant(embeddings) if embeddings is not None else "uniform"
        ),
        name="token_embedding",
    )
    encoder = [
        keras.layers.Bidirectional(
            recurrent_layer(
                cell,
                units,
                return_sequences=True,
                name=f"encoder_{index}",
                **(recurrent_kwargs or {}),
            ),
            name=f"bidirectional_{index}",
        )
        for index in range(num_layers)
    ]
    head = keras.layers.Dense(num_tags, "softmax", name="tag_probabilities")

    # Functional graph.
    inputs = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(embedding(inputs))
    for index, layer in enumerate(encoder):
        x = keras.layers.Dropout(dropout, name=f"encoder_{index}_dropout")(layer(x))
    return keras.Model(inputs, head(x), name=name)


def compile_tagger(model, learning_rate=1e-3):
    """Adam, token cross-entropy and token accuracy, both over real (unpadded) tokens."""
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        weighted_metrics=["sparse_categorical_accuracy"],
    )
    return model
