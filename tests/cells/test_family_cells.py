"""The newer cells (layer-norm LSTM, MUT1-3, clockwork, Mogrifier, depth-gated) against numpy
implementations of their papers' equations, on both loops, and their special cases."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lstm_zoo
from lstm_zoo.cells import (
    ClockworkRNNCell,
    DepthGatedLSTMCell,
    LayerNormLSTMCell,
    MogrifierLSTMCell,
    MUT1Cell,
)
from tests import family_references as ref
from tests.helpers import random_inputs

X = random_inputs((3, 7, 5), seed=21).astype("float64")
MASK = np.array([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0], [0, 1, 1, 0, 1, 1, 0]], dtype=bool)

CASES = {
    "layer_norm_lstm": ({}, lambda x, w, m: ref.layer_norm_lstm(x, w, m)),
    "mut1": ({}, lambda x, w, m: ref.mut(x, w, 1, m)),
    "mut2": ({}, lambda x, w, m: ref.mut(x, w, 2, m)),
    "mut3": ({}, lambda x, w, m: ref.mut(x, w, 3, m)),
    "clockwork": ({}, lambda x, w, m: ref.clockwork(x, w, (1, 2, 4, 8), m)),
    "clockwork-1-3": (
        {"periods": (1, 3)},
        lambda x, w, m: ref.clockwork(x, w, (1, 3), m),
    ),
    "mogrifier": ({}, lambda x, w, m: ref.mogrifier(x, w, 5, mask=m)),
    "mogrifier-rank": (
        {"rounds": 4, "rank": 2},
        lambda x, w, m: ref.mogrifier(x, w, 4, rank=2, mask=m),
    ),
    "depth_gated": ({}, lambda x, w, m: ref.depth_gated(x, w, 2, m)),
    "depth_gated-3": ({"depth": 3}, lambda x, w, m: ref.depth_gated(x, w, 3, m)),
}


def _layer(case, **kwargs):
    name = case.split("-")[0]
    options = CASES[case][0]
    layer = lstm_zoo.recurrent_layer(
        name, 4, dtype="float64", return_sequences=True, return_state=True, **options, **kwargs
    )
    layer(X)
    return layer


def _randomize(layer, seed=0):
    rng = np.random.RandomState(seed)
    layer.set_weights([rng.normal(scale=0.5, size=w.shape) for w in layer.get_weights()])


def _named(cell):
    return {w.name: keras.ops.convert_to_numpy(w) for w in cell.weights}


@pytest.mark.parametrize("case", sorted(CASES))
def test_both_loops_match_the_papers_equations_with_masks(case):
    fast = _layer(case)
    _randomize(fast)
    generic = _layer(case, fused=False)
    generic.set_weights(fast.get_weights())
    assert fast.uses_fast_loop and not generic.uses_fast_loop
    expected_h, expected_states = CASES[case][1](X, _named(fast.cell), MASK)
    seen = np.cumsum(MASK, axis=1)[:, :, None] > 0  # Keras outputs zeros before the first step
    for layer in (fast, generic):
        outputs, *states = layer(X, mask=MASK)
        np.testing.assert_allclose(outputs, np.where(seen, expected_h, 0), rtol=1e-9, atol=1e-11)
        assert len(states) == len(expected_states)
        for state, expected in zip(states, expected_states):
            np.testing.assert_allclose(state, expected, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("case", ["mut1", "clockwork", "mogrifier", "depth_gated"])
def test_fast_loop_gradients_match_generic_loop_with_dropout_and_backwards(case):
    """Autodiff of `step` inside the fast loop vs Keras's loop: dropout and recurrent dropout
    (same seed), go_backwards, masks."""
    results = []
    x = tf.constant(X)
    for fused in (True, False):
        layer = _layer(
            case, fused=fused, go_backwards=True, recurrent_dropout=0.3, dropout=0.2, seed=5
        )
        _randomize(layer)
        with tf.GradientTape() as tape:
            tape.watch(x)
            outputs = layer(x, mask=MASK, training=True)
            loss = sum(tf.reduce_sum(tf.sin(3.0 * o)) for o in outputs)
        grads = tape.gradient(loss, [x, *layer.trainable_weights])
        results.append(([o.numpy() for o in outputs], [g.numpy() for g in grads]))
    for actual, expected in zip(results[0][0] + results[0][1], results[1][0] + results[1][1]):
        np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-11)


def test_mogrifier_with_zero_rounds_is_the_lstm_cell():
    mogrifier = lstm_zoo.recurrent_layer("mogrifier", 4, rounds=0, return_sequences=True)
    lstm = lstm_zoo.recurrent_layer("zoo_lstm", 4, return_sequences=True)
    mogrifier(X.astype("float32"))
    lstm(X.astype("float32"))
    assert [(w.name, w.shape) for w in mogrifier.weights] == [
        (w.name, w.shape) for w in lstm.weights
    ]
    _randomize(lstm)
    mogrifier.set_weights(lstm.get_weights())
    assert mogrifier.cell.hand_written_backward and mogrifier.cell.loop_kernel() is not None
    np.testing.assert_allclose(mogrifier(X, mask=MASK), lstm(X, mask=MASK), rtol=1e-6)


def test_depth_gated_with_depth_one_is_the_lstm():
    gated = lstm_zoo.recurrent_layer("depth_gated", 4, depth=1, return_sequences=True)
    lstm = keras.layers.LSTM(4, return_sequences=True)
    gated(X)
    lstm(X)
    _randomize(lstm)
    gated.set_weights(lstm.get_weights())
    np.testing.assert_allclose(gated(X, mask=MASK), lstm(X, mask=MASK), rtol=1e-5, atol=1e-6)


def test_clockwork_modules_tick_at_their_periods_and_connect_slow_to_fast():
    cell = ClockworkRNNCell(4, periods=(1, 2, 4, 8), dtype="float64")
    layer = keras.layers.RNN(cell, return_sequences=True)
    h = keras.ops.convert_to_numpy(layer(X))
    changed = np.abs(np.diff(h, axis=1)) > 0  # step t vs t - 1, for t = 1..6
    for module, period in enumerate((1, 2, 4, 8)):
        ticks = [(t % period == 0) for t in range(1, 7)]
        assert (changed[:, :, module] == np.array(ticks)[None]).all(), module
    kernel = keras.ops.convert_to_numpy(cell.recurrent_kernel)
    # U[j, i] (h U: unit j feeds unit i) only if T_j >= T_i: with increasing periods zero above
    # the diagonal (the transpose of the paper's block upper-triangular W_H, which acts on h)
    assert np.all(np.triu(kernel, 1) == 0) and np.all(np.diag(kernel) != 0)


def test_clockwork_clock_counts_real_steps_so_left_padding_changes_nothing():
    layer = lstm_zoo.recurrent_layer("clockwork", 4, return_state=True)
    x = X[:1].astype("float32")
    padded = np.concatenate([np.full((1, 3, 5), 9.0, "float32"), x], axis=1)
    mask = np.concatenate([np.zeros((1, 3), bool), np.ones((1, 7), bool)], axis=1)
    output, h, clock = layer(x)
    output_padded, h_padded, clock_padded = layer(padded, mask=mask)
    np.testing.assert_allclose(output, output_padded, rtol=1e-6)
    np.testing.assert_allclose(h, h_padded, rtol=1e-6)
    assert float(clock[0, 0]) == float(clock_padded[0, 0]) == 7.0  # 7 mod lcm(1, 2, 4, 8)


def test_mut_cells_map_a_bare_input_only_when_widths_differ():
    narrow = keras.layers.RNN(MUT1Cell(5))
    narrow(X.astype("float32"))
    assert "input_map" not in {w.name for w in narrow.cell.weights}
    wide = keras.layers.RNN(MUT1Cell(3))
    wide(X.astype("float32"))
    assert {w.name: tuple(w.shape) for w in wide.cell.weights}["input_map"] == (5, 3)


def test_layer_norm_lstm_weights_keep_addons_names_and_defaults():
    cell = LayerNormLSTMCell(4)
    keras.layers.RNN(cell)(X.astype("float32"))
    shapes = {w.name: tuple(w.shape) for w in cell.weights}
    assert shapes["kernel_norm_gamma"] == (16,) and shapes["state_norm_beta"] == (4,)
    assert cell.norm_epsilon == 1e-3
    np.testing.assert_array_equal(cell.kernel_norm_gamma.numpy(), np.ones(16))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: ClockworkRNNCell(6, periods=(1, 2, 4, 8)), "divisible"),
        (lambda: ClockworkRNNCell(4, periods=(1, 0)), "periods"),
        (lambda: ClockworkRNNCell(4, periods=()), "periods"),
        (lambda: MogrifierLSTMCell(4, rounds=-1), "rounds"),
        (lambda: MogrifierLSTMCell(4, rank=0), "rank"),
        (lambda: DepthGatedLSTMCell(4, depth=0), "depth"),
        (lambda: LayerNormLSTMCell(4, norm_epsilon=0.0), "norm_epsilon"),
    ],
)
def test_bad_arguments_name_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()
