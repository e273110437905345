"""Bidirectional recurrent sequence taggers: per-token tag probabilities."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from lstm_zoo.layers.bidirectional import Bidirectional
from lstm_zoo.layers.characters import CharacterEncoder, WordFeatures
from lstm_zoo.layers.crf import CRF
from lstm_zoo.layers.embedding import token_embedding
from lstm_zoo.layers.registry import recurrent_layer
from lstm_zoo.models.metrics import TokenAccuracy
from lstm_zoo.validation import check_bool, check_int, check_number


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
    crf=False,
    recurrent_kwargs=None,
    char_features=False,
    char_vocab_size=None,
    char_embedding_dim=25,
    char_units=25,
    char_cell="lstm",
    char_recurrent_kwargs=None,
    name="sequence_tagger",
):
    """Word ids [batch, time] (0 = padding) -> tag probabilities [batch, time, num_tags].

    Embedding (mask_zero) -> Dropout -> num_layers x Bidirectional(recurrent layer) ->
    Dropout -> Dense(num_tags, softmax). The padding mask reaches the loss and the metrics,
    so padded positions count in neither (compile with `compile_tagger`).

    With `char_features=True` the inputs are {"tokens": [batch, time], "characters": [batch,
    time, chars]} (character ids, 0 = padding, 1 = unknown; see
    `lstm_zoo.data.tagging.encode_characters`) and each word's vector is its embedding
    concatenated with a `CharacterEncoder` of its characters (final states of a bidirectional
    recurrent layer over the characters), which gives rare and unseen words informative
    features (Plank et al. 2016). The padding mask is still `tokens != 0`.

    With `crf=True` the head is Dense(num_tags) emission scores and a linear-chain CRF: the
    model (a `CRFTagger`) outputs {"emissions", "tags"} (tags: the Viterbi path, 0 at padding)
    and trains on the CRF's negative log-likelihood over the real tokens.

    Args:
        num_tags: int. Number of tags.
        vocab_size / embeddings: a vocabulary size, or a pretrained [vocab, dim] matrix.
        cell: str. A recurrent-layer registry name.
        units: int. Units of each direction.
        dropout: float. Dropout after the embedding and after every recurrent layer.
        crf: bool. A CRF head instead of per-token softmax.
        recurrent_kwargs: dict. Passed to every recurrent layer.
        char_features: bool. Add character-level word features.
        char_vocab_size: int. Size of the character vocabulary (needed with char_features).
        char_embedding_dim: int. Width of the character embedding.
        char_units: int. Units of each direction of the character encoder.
        char_cell: str. Registry name of the character encoder's recurrent layer (the
            number of words per batch changes every batch: the zoo layers' native CPU kernel
            takes any shape without compiling, their XLA loop compiles a bounded number of
            shape buckets).
        char_recurrent_kwargs: dict. Passed to the character encoder's recurrent layer (say
            {"periods": (1, 2, 4, 8, 16)} for a clockwork encoder of 50 units).
    """
    check_int("num_tags", num_tags, low=2)
    check_int("num_layers", num_layers, low=1)
    check_number("dropout", dropout, 0.0, 1.0, high_open=True)
    check_bool("crf", crf)
    check_bool("char_features", char_features)
    for argument, value in (
        ("recurrent_kwargs", recurrent_kwargs),
        ("char_recurrent_kwargs", char_recurrent_kwargs),
    ):
        if value is not None and not isinstance(value, dict):
            raise ValueError(f"{argument} must be a dict or None; got {value!r}")
    if char_features and char_vocab_size is None:
        raise ValueError("char_features=True needs char_vocab_size (the character vocabulary)")
    if char_features:
        check_int("char_vocab_size", char_vocab_size, low=3)
        check_int("char_embedding_dim", char_embedding_dim)
        check_int("char_units", char_units)

    # Layers.
    embedding = token_embedding(vocab_size, embeddings, embedding_dim, trainable_embeddings)
    if char_features:
        char_encoder = CharacterEncoder(
            char_vocab_size,
            char_embedding_dim,
            char_units,
            cell=char_cell,
            recurrent_kwargs=char_recurrent_kwargs,
            name="char_features",
        )
    encoder = [
        Bidirectional(
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
    if crf:
        head = keras.layers.Dense(num_tags, name="emissions")
        crf_layer = CRF(num_tags, name="crf")
    else:
        head = keras.layers.Dense(num_tags, "softmax", name="tag_probabilities")

    # Functional graph.
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = embedding(tokens)
    inputs = tokens
    if char_features:
        characters = keras.Input(shape=(None, None), dtype="int32", name="characters")
        inputs = {"tokens": tokens, "characters": characters}
        x = WordFeatures(name="word_features")([x, char_encoder(characters)])
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    for index, layer in enumerate(encoder):
        x = keras.layers.Dropout(dropout, name=f"encoder_{index}_dropout")(layer(x))
    if crf:
        emissions = head(x)
        outputs = {"emissions": emissions, "tags": crf_layer(emissions)}
        return CRFTagger(inputs, outputs, name=name)
    return keras.Model(inputs, head(x), name=name)


@keras.saving.register_keras_serializable(package="lstm_zoo")
class CRFTagger(keras.Model):
    """A functional tagger whose loss is its CRF layer's negative log-likelihood.

    Inputs are word ids with 0 = padding (or {"tokens", "characters"} with character
    features); the mask is `tokens != 0`. `predict` returns {"emissions", "tags"};
    `predict_tags` just the Viterbi tags.
    """

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        tokens = x["tokens"] if isinstance(x, dict) else x
        tokens = tokens[0] if isinstance(tokens, (list, tuple)) else tokens
        mask = keras.ops.not_equal(tokens, 0)
        log_likelihood = self.get_layer("crf").log_likelihood(y_pred["emissions"], y, mask)
        loss = -keras.ops.mean(log_likelihood)
        if self.losses:
            loss = loss + keras.ops.sum(self.losses)
        # Under tf.distribute each replica's gradient is summed: scale as Keras scales its own
        # compiled losses (and Keras unscales the reported loss), so N replicas of a global
        # batch train as one replica does.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return loss / replicas if replicas > 1 else loss

    def predict_tags(self, tokens, **kwargs):
        return self.predict(tokens, **kwargs)["tags"]


def compile_tagger(model, learning_rate=1e-3):
    """Adam, token cross-entropy and token accuracy (`TokenAccuracy`, reported as
    "sparse_categorical_accuracy", exact over batches of any lengths), both over real
    (unpadded) tokens; for a `CRFTagger`, Adam on the CRF loss (measure accuracy on
    `predict_tags`)."""
    if isinstance(model, CRFTagger):
        model.compile(optimizer=keras.optimizers.Adam(learning_rate))
        return model
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        weighted_metrics=[TokenAccuracy()],
    )
    return model


def token_accuracy(true_tags, predicted_tags, tokens):
    """Share of real tokens (tokens != 0) whose predicted tag is right; `tokens` may be the
    model's input dict."""
    if isinstance(tokens, dict):
        tokens = tokens["tokens"]
    mask = np.asarray(tokens) != 0
    return float((np.asarray(true_tags) == np.asarray(predicted_tags))[mask].mean())
