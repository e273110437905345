"""The PNGs: produced, decodable, of the expected size and showing the data."""

import csv

import keras
import numpy as np
import pytest
from matplotlib.image import imread

from lstm_zoo import layers
from lstm_zoo.inspect import LSTM_KEYS, gate_activations, write_gate_heatmaps
from lstm_zoo.models.language_model import language_model
from lstm_zoo.models.sentiment import sentiment_classifier
from lstm_zoo.models.tagger import sequence_tagger
from lstm_zoo.plots import TrainingCurvesPNG, plot_gate_heatmaps, plot_training_curves
from tests.helpers import random_inputs, zoo_cell_names

WORDS = "the cat sat on the mat".split()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _read_png(path):
    with open(path, "rb") as handle:
        assert handle.read(8) == PNG_SIGNATURE
    image = imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    return image[..., :3]


def _assert_not_blank(image, min_coloured=0.05):
    """A blank (single-colour) image has variance 0; a drawn one has coloured pixels (heatmaps:
    most of the image; curves: thin lines)."""
    assert image.var() > 0.005, f"pixel variance {image.var():.4f}: nearly blank"
    coloured = (image.max(axis=-1) - image.min(axis=-1)) > 0.2
    assert coloured.mean() > min_coloured, f"only {coloured.mean():.1%} coloured pixels"


def _activations(seed, units=4, steps=None, bidirectional=False):
    keras.utils.set_random_seed(seed)
    steps = steps or len(WORDS)
    layer = layers.LSTM(units, return_sequences=True)
    if bidirectional:
        layer = keras.layers.Bidirectional(layer)
    x = random_inputs((2, steps, 3), seed=seed)
    layer(x)
    return gate_activations(layer, x)


def test_gate_heatmaps_png_is_written_and_shows_the_data(tmp_path):
    path = plot_gate_heatmaps(_activations(0), WORDS, tmp_path / "sub" / "gates.png", title="t")
    image = _read_png(path)
    # Six panels stacked: taller than wide, a few hundred pixels each way.
    height, width = image.shape[:2]
    assert 300 < width < 2000 and 600 < height < 3000 and height > width
    _assert_not_blank(image)

    blank = np.ones_like(image)
    assert image.var() > 100 * blank.var() + 0.01


def test_different_activations_give_different_images(tmp_path):
    first = _read_png(plot_gate_heatmaps(_activations(0), WORDS, tmp_path / "a.png"))
    second = _read_png(plot_gate_heatmaps(_activations(1), WORDS, tmp_path / "b.png"))
    again = _read_png(plot_gate_heatmaps(_activations(0), WORDS, tmp_path / "c.png"))
    assert first.shape == second.shape
    assert np.abs(first - second).mean() > 0.005
    np.testing.assert_array_equal(first, again)


def test_image_grows_with_tokens_and_directions_and_units_are_selected(tmp_path):
    short = _read_png(plot_gate_heatmaps(_activations(0), WORDS, tmp_path / "s.png"))
    long_words = WORDS * 3
    long = _read_png(
        plot_gate_heatmaps(_activations(0, steps=len(long_words)), long_words, tmp_path / "l.png")
    )
    both = _read_png(
        plot_gate_heatmaps(_activations(0, bidirectional=True), WORDS, tmp_path / "bi.png")
    )
    assert long.shape[1] > short.shape[1] and long.shape[0] == short.shape[0]
    assert both.shape[1] > 1.5 * short.shape[1]

    many = _activations(0, units=34)
    tall = _read_png(plot_gate_heatmaps(many, WORDS, tmp_path / "all.png", units=34))
    default = _read_png(plot_gate_heatmaps(many, WORDS, tmp_path / "32.png"))
    few = _read_png(plot_gate_heatmaps(many, WORDS, tmp_path / "3.png", units=[0, 5, 7]))
    assert tall.shape[0] > default.shape[0] > few.shape[0]


def test_masked_steps_are_drawn_grey(tmp_path):
    layer = layers.GRU(4, return_sequences=True)
    x = random_inputs((1, 6, 3))
    layer(x)
    mask = np.array([[1, 1, 1, 0, 0, 0]], bool)
    masked = _read_png(
        plot_gate_heatmaps(gate_activations(layer, x, mask=mask), WORDS, tmp_path / "m.png")
    )
    grey = (np.abs(masked - 0.85) < 0.02).all(axis=-1)
    assert grey.mean() > 0.1  # half of every heatmap


def test_gate_heatmap_errors(tmp_path):
    gates = _activations(0)
    with pytest.raises(ValueError, match="not a gate-activations dict"):
        plot_gate_heatmaps({"loss": np.zeros((2, 6, 4))}, WORDS, tmp_path / "x.png")
    with pytest.raises(ValueError, match="gate_activations"):
        plot_gate_heatmaps({}, WORDS, tmp_path / "x.png")
    with pytest.raises(ValueError, match="5 tokens for 6 time steps"):
        plot_gate_heatmaps(gates, WORDS[:5], tmp_path / "x.png")
    with pytest.raises(ValueError, match="example=2"):
        plot_gate_heatmaps(gates, WORDS, tmp_path / "x.png", example=2)
    with pytest.raises(ValueError, match="units must be in"):
        plot_gate_heatmaps(gates, WORDS, tmp_path / "x.png", units=[9])
    broken = dict(gates, cell=gates["cell"][:, :3])
    with pytest.raises(ValueError, match="disagree in shape"):
        plot_gate_heatmaps(broken, WORDS, tmp_path / "x.png")
    assert set(LSTM_KEYS) <= set(gates)


# ---------------------------------------------------------------- training curves
def _tiny_fit(callbacks=(), epochs=3):
    keras.utils.set_random_seed(0)
    x = random_inputs((32, 4), seed=5)
    y = (x.sum(axis=1) > 0).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(
        optimizer=keras.optimizers.SGD(0.5), loss="binary_crossentropy", metrics=["accuracy"]
    )
    return model.fit(
        x, y, epochs=epochs, batch_size=8, validation_split=0.25, verbose=0, callbacks=callbacks
    )


def test_training_curves_from_a_real_fit_history(tmp_path):
    history = _tiny_fit()
    assert {"loss", "val_loss", "accuracy", "val_accuracy"} <= set(history.history)
    image = _read_png(plot_training_curves(history, tmp_path / "curves.png"))
    assert image.shape[1] > image.shape[0]  # two panels side by side
    _assert_not_blank(image, min_coloured=0.005)
    from_dict = _read_png(plot_training_curves(history.history, tmp_path / "dict.png"))
    np.testing.assert_array_equal(image, from_dict)


def test_training_curves_from_a_csv_logger_file_and_the_callback(tmp_path):
    log = tmp_path / "log.csv"
    png = tmp_path / "live.png"
    callback = TrainingCurvesPNG(png)
    history = _tiny_fit([keras.callbacks.CSVLogger(str(log)), callback])
    assert callback.epochs == [0, 1, 2]
    live = _read_png(png)
    _assert_not_blank(live, min_coloured=0.005)
    from_csv = _read_png(plot_training_curves(str(log), tmp_path / "csv.png"))
    _assert_not_blank(from_csv, min_coloured=0.005)
    from_history = _read_png(plot_training_curves(history, tmp_path / "history.png"))
    assert from_csv.shape == from_history.shape
    # The same numbers (the CSV rounds nothing that shows at this size).
    assert np.abs(from_csv - from_history).mean() < 0.01


def test_csv_with_missing_validation_values_plots_gaps(tmp_path):
    log = tmp_path / "log.csv"
    with open(log, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", "loss", "perplexity", "val_loss", "val_perplexity"])
        writer.writerow([0, 5.0, 148.4, "NA", "NA"])
        writer.writerow([1, 4.5, 90.0, 4.7, 110.0])
        writer.writerow([2, 4.2, 66.7, "NA", "NA"])
    _assert_not_blank(
        _read_png(plot_training_curves(log, tmp_path / "gaps.png")), min_coloured=0.005
    )


def test_training_curve_errors(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        plot_training_curves({}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="empty"):
        plot_training_curves(keras.callbacks.History(), tmp_path / "x.png")
    with pytest.raises(ValueError, match="different numbers of epochs"):
        plot_training_curves({"loss": [1, 2, 3], "val_loss": [1]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="History"):
        plot_training_curves([1, 2], tmp_path / "x.png")
    bad = tmp_path / "bad.csv"
    bad.write_text("epoch,loss\n0,1.5\n1,oops\n")
    with pytest.raises(ValueError, match=r"bad.csv, line 3: column 'loss'"):
        plot_training_curves(bad, tmp_path / "x.png")
    header_only = tmp_path / "header.csv"
    header_only.write_text("epoch,loss\n")
    with pytest.raises(ValueError, match="empty history"):
        plot_training_curves(header_only, tmp_path / "x.png")


# ---------------------------------------------------------------- from a model
SENTENCE = np.array([3, 7, 2, 9, 4, 1])


@pytest.mark.parametrize("cell", [*zoo_cell_names(), "lstm", "gru"])
def test_write_gate_heatmaps_on_a_language_model(tmp_path, cell):
    model = language_model(12, cell=cell, units=4, num_layers=2)
    path = tmp_path / f"{cell}.png"
    activations = write_gate_heatmaps(model, "encoder_1", SENTENCE, WORDS, path)
    _assert_not_blank(_read_png(path))
    # The same as the model's own layer output on that sentence.
    layer = model.get_layer("encoder_1")
    expected = keras.Model(model.inputs, layer.output)([SENTENCE[None]])
    np.testing.assert_allclose(activations["hidden"], expected, atol=1e-5)


def test_write_gate_heatmaps_respects_padding_and_default_layer(tmp_path):
    model = language_model(12, cell="zoo_gru", units=4, num_layers=1)
    padded = np.concatenate([SENTENCE[:4], [0, 0]])
    activations = write_gate_heatmaps(model, None, padded, WORDS, tmp_path / "p.png")
    np.testing.assert_array_equal(activations["mask"][0], padded != 0)
    unpadded = write_gate_heatmaps(model, None, SENTENCE[:4], WORDS[:4], tmp_path / "u.png")
    np.testing.assert_allclose(activations["hidden"][:, :4], unpadded["hidden"], atol=1e-6)


def test_write_gate_heatmaps_on_bidirectional_and_stateful_models(tmp_path):
    classifier = sentiment_classifier(
        vocab_size=12, cell="coupled", units=3, bidirectional=True, num_layers=2
    )
    both = write_gate_heatmaps(classifier, "bidirectional_1", SENTENCE, WORDS, tmp_path / "s.png")
    assert set(both) == {"forward", "backward"}
    _assert_not_blank(_read_png(tmp_path / "s.png"))

    tagger = sequence_tagger(3, vocab_size=12, cell="zoo_lstm", units=3)
    write_gate_heatmaps(tagger, "bidirectional_0", SENTENCE, WORDS, tmp_path / "t.png")
    _assert_not_blank(_read_png(tmp_path / "t.png"))

    stateful = language_model(
        12, cell="zoo_lstm", units=4, batch_size=2, num_steps=3, stateful=True
    )
    stateful(np.ones((2, 3), "int32"))
    states = [s.numpy() for s in stateful.get_layer("encoder_0").states]
    gates = write_gate_heatmaps(stateful, "encoder_1", SENTENCE, WORDS, tmp_path / "st.png")
    stateless = language_model(12, cell="zoo_lstm", units=4)
    stateless.set_weights(stateful.get_weights())
    expected = keras.Model(stateless.inputs, stateless.get_layer("encoder_1").output)
    np.testing.assert_allclose(gates["hidden"], expected([SENTENCE[None]]), atol=1e-5)
    for before, after in zip(states, stateful.get_layer("encoder_0").states):
        np.testing.assert_array_equal(before, after.numpy())

    with pytest.raises(ValueError, match="no recurrent layer named 'logits'"):
        write_gate_heatmaps(stateful, "logits", SENTENCE, WORDS, tmp_path / "x.png")
    with pytest.raises(ValueError, match="token_labels has 2 entries"):
        write_gate_heatmaps(stateful, None, SENTENCE, WORDS[:2], tmp_path / "x.png")
