import os
import tempfile

import keras
import numpy as np
import pytest

from lstm_zoo.data import lm_windows
from lstm_zoo.models import (
    EpochLearningRateDecay,
    Perplexity,
    compile_language_model,
    language_model,
    language_model_preset,
)
from tests.helpers import zoo_cell_names

CELLS = ["lstm", "gru", *zoo_cell_names()]


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_drives_the_language_model_and_learns(cell):
    keras.utils.set_random_seed(0)
    stream = np.tile(np.arange(1, 9), 80)  # a cycle the model must learn
    data = lm_windows(stream, batch_size=4, num_steps=10)
    model = language_model(9, cell=cell, units=16, num_layers=2, embedding_dim=8)
    compile_language_model(model, optimizer=keras.optimizers.Adam(0.02))
    history = model.fit(data, epochs=4, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    assert model.output_shape == (None, None, 9)


def test_stateful_model_over_consecutive_windows_equals_one_long_pass():
    keras.utils.set_random_seed(1)
    tokens = np.random.RandomState(0).randint(1, 20, size=(2, 12)).astype("int32")
    long = language_model(20, cell="zoo_lstm", units=6, num_layers=2)
    stateful = language_model(
        20, cell="zoo_lstm", units=6, num_layers=2, batch_size=2, num_steps=4, stateful=True
    )
    stateful.set_weights(long.get_weights())
    chunks = [stateful.predict_on_batch(tokens[:, i : i + 4]) for i in (0, 4, 8)]
    np.testing.assert_allclose(np.concatenate(chunks, 1), long.predict_on_batch(tokens), atol=1e-5)


def test_tied_embeddings_share_the_matrix_and_save_with_safe_mode():
    model = language_model(30, cell="coupled", units=8, num_layers=1, tie_embeddings=True)
    names = [w.path for w in model.weights]
    assert not any("logits" in n for n in names)
    tokens = np.array([[1, 2, 3, 0, 0]], "int32")
    expected = model.predict_on_batch(tokens)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "lm.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict_on_batch(tokens), expected, atol=1e-6)


def test_padding_is_masked_out_of_the_loss():
    keras.utils.set_random_seed(2)
    model = compile_language_model(language_model(10, units=4, num_layers=1))
    x = np.array([[1, 2, 3, 4, 5, 6]], "int32")
    y = np.array([[2, 3, 4, 5, 6, 7]], "int32")
    x_padded = np.concatenate([x, np.zeros((1, 3), "int32")], 1)
    y_padded = np.concatenate([y, np.zeros((1, 3), "int32")], 1)
    plain = model.evaluate(x, y, verbose=0, return_dict=True)
    padded = model.evaluate(x_padded, y_padded, verbose=0, return_dict=True)
    assert padded["loss"] == pytest.approx(plain["loss"], rel=1e-5)
    assert padded["perplexity"] == pytest.approx(plain["perplexity"], rel=1e-5)


def test_perplexity_is_exp_of_mean_cross_entropy_without_padding():
    logits = np.log(np.array([[[0.5, 0.25, 0.25], [0.2, 0.6, 0.2], [0.1, 0.1, 0.8]]]))
    metric = Perplexity()
    metric.update_state(np.array([[1, 2, 0]]), logits)
    assert float(metric.result()) == pytest.approx(np.exp(-(np.log(0.25) + np.log(0.2)) / 2))


def test_presets_and_learning_rate_schedule_follow_the_tutorial():
    small = language_model_preset("ptb-small")
    assert small["model"]["units"] == 200 and small["training"]["epochs"] == 13
    schedule = EpochLearningRateDecay(1.0, 0.5, 4)
    assert [schedule.rate(e) for e in range(6)] == [1, 1, 1, 1, 0.5, 0.25]
    with pytest.raises(ValueError, match="known presets: ptb-large, ptb-medium, ptb-small"):
        language_model_preset("ptb-huge")


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="stateful=True needs a fixed batch_size"):
        language_model(10, stateful=True)
    with pytest.raises(ValueError, match="Unknown recurrent layer"):
        language_model(10, cell="lstn")
