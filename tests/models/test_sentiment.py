import os
import tempfile

import keras
import numpy as np
import pytest

from lstm_zoo.models import (
    compile_sentiment_classifier,
    sentiment_classifier,
    sentiment_classifier_from_preset,
)
from tests.helpers import zoo_cell_names

CELLS = ["lstm", "gru", *zoo_cell_names()]


def assert_padded_batch_equals_one_by_one(model):
    """A right-padded batch gives each sequence exactly what it gives alone, unpadded.

    Returns the padded batch and the model's outputs on it."""
    sequences = [[3, 4, 5], [6, 7, 8, 9, 10, 11], [12]]
    padded = np.zeros((3, 8), "int32")
    for i, s in enumerate(sequences):
        padded[i, : len(s)] = s
    batch = model.predict_on_batch(padded)
    for i, s in enumerate(sequences):
        alone = model.predict_on_batch(np.array([s], "int32"))
        np.testing.assert_allclose(batch[i], alone[0], rtol=1e-5, atol=1e-6)
    return padded, batch


def _toy_data(n=64, seed=0):
    """Label 1 iff token 2 appears; sequences of different lengths, right-padded with 0."""
    rng = np.random.RandomState(seed)
    x = np.zeros((n, 9), "int32")
    y = np.zeros(n, "int32")
    for i in range(n):
        length = rng.randint(3, 10)
        x[i, :length] = rng.randint(3, 12, size=length)
        if i % 2:
            x[i, rng.randint(length)] = 2
            y[i] = 1
    return x, y


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_drives_the_classifier_and_learns(cell):
    keras.utils.set_random_seed(0)
    x, y = _toy_data()
    model = compile_sentiment_classifier(
        sentiment_classifier(vocab_size=12, embedding_dim=8, cell=cell, units=8), 0.02
    )
    history = model.fit(x, y, epochs=12, batch_size=16, verbose=0)
    assert history.history["binary_accuracy"][-1] > 0.9, history.history


def test_frozen_pretrained_embeddings_stay_frozen_and_multiclass_softmax():
    matrix = np.random.RandomState(1).normal(size=(12, 5)).astype("float32")
    matrix[0] = 0
    model = sentiment_classifier(embeddings=matrix, num_classes=3, units=4)
    assert model.output_shape == (None, 3)
    embedding = model.get_layer("token_embedding")
    assert not embedding.trainable
    np.testing.assert_array_equal(embedding.embeddings.numpy(), matrix)
    compile_sentiment_classifier(model)
    x, y = _toy_data(16)
    model.fit(x, y % 3, epochs=1, verbose=0)
    np.testing.assert_array_equal(embedding.embeddings.numpy(), matrix)


@pytest.mark.parametrize("cell", ["lstm", "zoo_lstm", "peephole", "zoo_gru"])
def test_bidirectional_padded_batch_equals_unpadded_single_runs(cell):
    """The packed-sequence result of the torch LSTMNet: padding never reaches the final
    forward or backward state."""
    keras.utils.set_random_seed(3)
    model = sentiment_classifier_from_preset(
        "seed-torch-lstmnet", vocab_size=20, embedding_dim=6, units=5, cell=cell, dropout=0.0
    )
    assert_padded_batch_equals_one_by_one(model)


def test_next_word_preset_and_safe_mode_round_trip():
    matrix = np.random.RandomState(2).normal(size=(30, 4)).astype("float32")
    model = sentiment_classifier_from_preset(
        "seed-keras-next-word", embeddings=matrix, num_classes=30, cell="coupled"
    )
    assert model.output_shape == (None, 30)
    assert model.get_layer("encoder_0").cell.recurrent_dropout == 0.1
    assert model.get_layer("hidden").units == 64
    x = np.array([[3, 4, 5, 0]], "int32")
    expected = model.predict_on_batch(x)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict_on_batch(x), expected, atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="pass `embeddings`"):
        sentiment_classifier()
    with pytest.raises(ValueError, match="vocab_size=5 but the embedding matrix has 4 rows"):
        sentiment_classifier(embeddings=np.zeros((4, 2)), vocab_size=5)
    with pytest.raises(ValueError, match="known presets"):
        sentiment_classifier_from_preset("nope", vocab_size=3)


@pytest.mark.parametrize("mode", ["max", "mean"])
def test_masked_pooling_ignores_padding_like_a_numpy_reference(mode):
    from lstm_zoo.layers import MaskedGlobalPooling1D

    x = np.random.RandomState(4).normal(size=(3, 5, 2)).astype("float32")
    x[:, 3:] = 100.0  # padding steps hold huge values: any leak shows
    lengths = [3, 1, 0]
    mask = np.arange(5)[None, :] < np.array(lengths)[:, None]
    out = keras.ops.convert_to_numpy(MaskedGlobalPooling1D(mode)(x, mask=mask))
    for i, n in enumerate(lengths):
        reference = np.zeros(2) if n == 0 else getattr(np, mode)(x[i, :n], axis=0)
        np.testing.assert_allclose(out[i], reference, rtol=1e-6)
    unmasked = keras.ops.convert_to_numpy(MaskedGlobalPooling1D(mode)(x))
    np.testing.assert_allclose(unmasked, getattr(np, mode)(x, axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="mode must be"):
        MaskedGlobalPooling1D("min")


@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_pooled_bidirectional_classifier_ignores_padding_and_round_trips(pooling):
    keras.utils.set_random_seed(5)
    model = sentiment_classifier(
        vocab_size=20,
        embedding_dim=6,
        units=5,
        cell="zoo_lstm",
        bidirectional=True,
        pooling=pooling,
        embedding_dropout=0.3,
    )
    assert model.get_layer(f"{pooling}_pooling") and model.get_layer("embedding_dropout")
    padded, batch = assert_padded_batch_equals_one_by_one(model)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict_on_batch(padded), batch, atol=1e-6)
    with pytest.raises(ValueError, match="pooling must be"):
        sentiment_classifier(vocab_size=5, pooling="attention")
