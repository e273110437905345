"""Each cell against a numpy implementation of its equations and against Keras's built-ins."""

import keras
import numpy as np
import pytest

from lstm_zoo.cells import (
    ClockworkRNNCell,
    CoupledLSTMCell,
    GRUCell,
    LSTMCell,
    PeepholeLSTMCell,
    registered_cells,
)
from tests import references
from tests.helpers import random_inputs

X = random_inputs((3, 6, 4), seed=1).astype("float64")


def _run(cell, x=X, **kwargs):
    layer = keras.layers.RNN(cell, return_sequences=True, return_state=True, dtype="float64")
    outputs, *states = layer(x, **kwargs)
    return (
        layer,
        keras.ops.convert_to_numpy(outputs),
        [keras.ops.convert_to_numpy(s) for s in states],
    )


def _randomize(layer, seed=0):
    rng = np.random.RandomState(seed)
    layer.set_weights([rng.normal(scale=0.5, size=w.shape) for w in layer.get_weights()])


def test_lstm_cell_matches_numpy_equations():
    layer, _, _ = _run(LSTMCell(5, dtype="float64"))
    _randomize(layer)
    _, outputs, (h, c) = _run(layer.cell)
    expected, (h_ref, c_ref) = references.lstm(X, *layer.get_weights())
    np.testing.assert_allclose(outputs, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c, c_ref, rtol=1e-10, atol=1e-12)


def test_peephole_cell_matches_numpy_equations():
    cell = PeepholeLSTMCell(5, dtype="float64")
    layer, _, _ = _run(cell)
    _randomize(layer)
    kernel, recurrent, bias = (w.numpy() for w in (cell.kernel, cell.recurrent_kernel, cell.bias))
    peepholes = [w.numpy() for w in cell.extra_weights()]
    assert all(np.abs(p).sum() > 0 for p in peepholes)
    _, outputs, (_, c) = _run(cell)
    expected, (_, c_ref) = references.lstm(X, kernel, recurrent, bias, peepholes=peepholes)
    np.testing.assert_allclose(outputs, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c, c_ref, rtol=1e-10, atol=1e-12)


def test_peephole_weights_named_as_tensorflow_and_zero_equals_lstm():
    peephole = PeepholeLSTMCell(5, dtype="float64")
    layer, _, _ = _run(peephole)
    names = {w.name for w in peephole.weights}
    assert {
        "input_gate_peephole_weights",
        "forget_gate_peephole_weights",
        "output_gate_peephole_weights",
    } <= names
    for w in peephole.extra_weights():
        assert tuple(w.shape) == (5,)
        w.assign(np.zeros(5))
    lstm = LSTMCell(5, dtype="float64")
    _run(lstm)
    for source, target in zip(
        (peephole.kernel, peephole.recurrent_kernel, peephole.bias),
        (lstm.kernel, lstm.recurrent_kernel, lstm.bias),
    ):
        target.assign(source.numpy())
    np.testing.assert_allclose(_run(peephole)[1], _run(lstm)[1], rtol=1e-12)


def test_coupled_cell_matches_numpy_equations_and_has_three_blocks():
    cell = CoupledLSTMCell(5, dtype="float64")
    layer, _, _ = _run(cell)
    assert tuple(cell.kernel.shape) == (4, 15) and tuple(cell.bias.shape) == (15,)
    _randomize(layer)
    _, outputs, (_, c) = _run(cell)
    expected, (_, c_ref) = references.coupled_lstm(X, *layer.get_weights())
    np.testing.assert_allclose(outputs, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c, c_ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_cell_matches_numpy_equations(reset_after):
    cell = GRUCell(5, reset_after=reset_after, dtype="float64")
    layer, _, _ = _run(cell)
    _randomize(layer)
    _, outputs, _ = _run(cell)
    expected, _ = references.gru(X, *layer.get_weights(), reset_after=reset_after)
    np.testing.assert_allclose(outputs, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "zoo_cell, keras_layer",
    [
        (lambda: LSTMCell(6), lambda: keras.layers.LSTM(6, return_sequences=True)),
        (lambda: GRUCell(6), lambda: keras.layers.GRU(6, return_sequences=True)),
        (
            lambda: GRUCell(6, reset_after=False),
            lambda: keras.layers.GRU(6, return_sequences=True, reset_after=False),
        ),
    ],
)
def test_cells_match_keras_builtins_with_copied_weights(zoo_cell, keras_layer):
    x = random_inputs((4, 7, 3), seed=2)
    reference = keras_layer()
    expected = reference(x)
    ours = keras.layers.RNN(zoo_cell(), return_sequences=True)
    ours(x)
    assert [w.name for w in ours.weights] == [w.name for w in reference.weights]
    ours.set_weights(reference.get_weights())
    np.testing.assert_allclose(ours(x), expected, rtol=1e-5, atol=1e-6)


def test_lstm_cell_initializes_forget_bias_to_one_like_keras():
    cell = LSTMCell(3)
    keras.layers.RNN(cell)(np.zeros((1, 2, 2), "float32"))
    np.testing.assert_array_equal(cell.bias.numpy(), [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])


def test_cells_stack_in_stacked_rnn_cells():
    cells = keras.layers.StackedRNNCells([LSTMCell(4), GRUCell(3), CoupledLSTMCell(2)])
    output = keras.layers.RNN(cells)(random_inputs((2, 5, 3)))
    assert tuple(output.shape) == (2, 2)


@pytest.mark.parametrize(
    "cell_class", [e.cell_class for e in registered_cells()], ids=lambda c: c.__name__
)
def test_cell_config_round_trips(cell_class):
    options = {"periods": [1, 2, 4]} if cell_class is ClockworkRNNCell else {}
    cell = cell_class(
        3, dropout=0.25, recurrent_dropout=0.5, seed=7, kernel_regularizer="l2", **options
    )
    config = cell.get_config()
    assert cell_class.from_config(config).get_config() == config
    assert keras.saving.get_registered_name(cell_class) == f"lstm_zoo>{cell_class.__name__}"


@pytest.mark.parametrize("units", [0, -3, 2.5, None])
def test_units_must_be_positive_integer(units):
    with pytest.raises(ValueError, match="positive integer"):
        LSTMCell(units)


def test_unit_forget_bias_on_a_cell_without_forget_gate_is_an_error():
    with pytest.raises(ValueError, match="no forget gate"):
        CoupledLSTMCell(3, unit_forget_bias=True)


def test_dropout_out_of_range_is_an_error():
    with pytest.raises(ValueError, match="dropout"):
        GRUCell(3, dropout=1.5)


def test_a_cell_registered_later_gets_a_layer_and_a_name():
    """One decorator: serialization, the layer class, the registry name."""
    import lstm_zoo
    from lstm_zoo.cells import register_cell
    from lstm_zoo.layers import layer_classes

    @register_cell("test_scaled_lstm", layer_name="TestScaledLSTM", description="test only")
    class TestScaledLSTMCell(LSTMCell):
        """An LSTM whose output is halved (a user's cell), on the autodiff fast path."""

        @property
        def hand_written_backward(self):
            return False

        def step(self, xz, hz, states, extra):
            h, (_, c), saved = super().step(xz, hz, states, extra)
            return 0.5 * h, [0.5 * h, c], saved

    layer = lstm_zoo.recurrent_layer("test_scaled_lstm", 3, return_sequences=True)
    assert type(layer) is layer_classes()["TestScaledLSTM"] and layer.uses_fast_loop
    assert keras.saving.get_registered_name(type(layer)) == "lstm_zoo>TestScaledLSTM"
    generic = lstm_zoo.recurrent_layer("test_scaled_lstm", 3, return_sequences=True, fused=False)
    x = X.astype("float32")
    layer(x), generic(x)
    generic.set_weights(layer.get_weights())
    np.testing.assert_allclose(layer(x), generic(x), rtol=1e-5, atol=1e-7)
