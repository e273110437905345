"""The fast layers: the shared helper, equivalence with the generic loop, gradients, masks."""

import functools

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from lstm_zoo.layers import GRU, LSTM, PeepholeLSTM
from tests.helpers import random_inputs, run_layer_test, zoo_cell_names, zoo_layer

LAYERS = {name: functools.partial(zoo_layer, name) for name in zoo_cell_names()}


def _pair(layer_class, x, dtype="float32", **kwargs):
    """The fast layer and the same cell in keras.layers.RNN's generic loop, same weights."""
    fast = layer_class(5, dtype=dtype, **kwargs)
    fast(x)
    rng = np.random.RandomState(3)
    fast.set_weights([rng.normal(scale=0.4, size=w.shape) for w in fast.get_weights()])
    generic = layer_class(5, dtype=dtype, fused=False, **kwargs)
    generic(x)
    generic.set_weights(fast.get_weights())
    assert fast.uses_fast_loop and not generic.uses_fast_loop
    return fast, generic


def _outputs_and_gradients(layer, x, mask=None, training=False):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = layer(x, mask=mask, training=training)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        weights = [tf.cast(tf.sin(tf.range(tf.size(o), dtype=x.dtype)), x.dtype) for o in outputs]
        loss = sum(tf.reduce_sum(tf.reshape(o, [-1]) * w) for o, w in zip(outputs, weights))
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    return [o.numpy() for o in outputs], [g.numpy() for g in grads]


def _assert_close(actual, expected, rtol=1e-5, atol=1e-6):
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", LAYERS)
def test_layer_passes_the_shared_layer_checks(name):
    run_layer_test(lambda **kw: LAYERS[name](4, **kw))


def test_gru_reset_before_passes_the_shared_layer_checks():
    run_layer_test(lambda **kw: GRU(4, reset_after=False, **kw))


MASK = np.array(
    [
        [1, 1, 1, 1, 1, 1, 1],  # full
        [1, 1, 1, 1, 0, 0, 0],  # right padding
        [0, 0, 1, 1, 1, 1, 1],  # left padding
        [1, 0, 1, 1, 0, 1, 0],  # arbitrary
    ],
    dtype=bool,
)


@pytest.mark.parametrize("name", LAYERS)
@pytest.mark.parametrize(
    "options, masked",
    [
        ({"return_sequences": True}, False),
        ({"return_sequences": True, "go_backwards": True}, True),
        ({"return_state": True}, True),
        ({"return_sequences": True, "return_state": True, "zero_output_for_mask": True}, True),
    ],
    ids=["sequences-nomask", "backwards-mask", "state-mask", "zero-output-mask"],
)
def test_fast_loop_equals_generic_loop_outputs_and_gradients(name, options, masked):
    x = random_inputs((4, 7, 3), seed=4)
    fast, generic = _pair(LAYERS[name], x, **options)
    mask = tf.constant(MASK) if masked else None
    expected = _outputs_and_gradients(generic, x, mask)
    actual = _outputs_and_gradients(fast, x, mask)
    _assert_close(actual[0], expected[0])
    _assert_close(actual[1], expected[1])


@pytest.mark.parametrize("name", ["zoo_lstm", "zoo_gru", "depth_gated"])
def test_training_mode_and_initial_state_match_generic_loop(name):
    x = random_inputs((4, 6, 3), seed=5)
    fast, generic = _pair(LAYERS[name], x, return_sequences=True, return_state=True)
    states = [random_inputs((4, 5), seed=10 + i) for i in range(len(fast.cell.state_size))]

    def run(layer):
        x_t = tf.constant(x)
        state_t = [tf.constant(s) for s in states]
        with tf.GradientTape() as tape:
            tape.watch([x_t, *state_t])
            outputs = layer(
                x_t, initial_state=state_t, mask=tf.constant(MASK[:, :6]), training=True
            )
            loss = sum(tf.reduce_sum(o * o) for o in outputs)
        return [o.numpy() for o in outputs], tape.gradient(loss, [x_t, *state_t, *layer.weights])

    expected, actual = run(generic), run(fast)
    _assert_close(actual[0], expected[0])
    _assert_close([g.numpy() for g in actual[1]], [g.numpy() for g in expected[1]])


@pytest.mark.parametrize("name", LAYERS)
def test_dropout_masks_match_generic_loop_with_the_same_seed(name):
    x = random_inputs((3, 5, 4), seed=6)
    outputs = []
    for fused in (True, False):
        layer = LAYERS[name](
            4, dropout=0.3, recurrent_dropout=0.4, seed=11, fused=fused, return_sequences=True
        )
        layer(x)
        rng = np.random.RandomState(3)  # the same weights for both loops
        layer.set_weights([rng.normal(scale=0.4, size=w.shape) for w in layer.weights])
        outputs.append(layer(x, training=True).numpy())
    np.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-5, atol=1e-6)
    inference = layer(x, training=False).numpy()
    assert not np.allclose(outputs[1], inference), "dropout had no effect in training"


@pytest.mark.parametrize("name", LAYERS)
def test_gradients_match_float64_finite_differences(name):
    x = random_inputs((2, 4, 3), seed=7, dtype="float64")
    layer = LAYERS[name](3, dtype="float64", return_sequences=True)
    layer(x)
    rng = np.random.RandomState(8)
    layer.set_weights([rng.normal(scale=0.5, size=w.shape) for w in layer.get_weights()])
    mask = tf.constant(MASK[:2, :4])
    target = tf.constant(random_inputs((2, 4, 3), seed=9, dtype="float64"))

    def loss():
        return tf.reduce_sum(tf.square(layer(x, mask=mask, training=True) - target))

    with tf.GradientTape() as tape:
        value = loss()
    analytic = tape.gradient(value, layer.trainable_weights)
    # Directional derivatives along random directions, per weight: grad . d against the central
    # difference (L(w + eps d) - L(w - eps d)) / (2 eps). Any error in the gradient has a
    # nonzero projection on a random Gaussian direction with probability 1, and 4 directions
    # per weight cost 8 forward passes instead of 2 per element.
    eps = 1e-6
    directions = np.random.RandomState(10)
    for weight, grad in zip(layer.trainable_weights, analytic):
        original = weight.numpy()
        for _ in range(4):
            direction = directions.normal(size=original.shape)
            weight.assign(original + eps * direction)
            upper = loss().numpy()
            weight.assign(original - eps * direction)
            lower = loss().numpy()
            numeric = (upper - lower) / (2 * eps)
            np.testing.assert_allclose(
                np.sum(grad.numpy() * direction), numeric, rtol=1e-6, atol=1e-8, err_msg=weight.name
            )
        weight.assign(original)


@settings(max_examples=12, deadline=None)
@given(
    name=st.sampled_from(sorted(LAYERS)),
    lengths=st.lists(st.integers(1, 5), min_size=1, max_size=3),
    extra=st.integers(1, 4),
    backwards=st.booleans(),
)
def test_extra_right_padding_changes_no_valid_output_nor_final_state(
    name, lengths, extra, backwards
):
    layer = _CACHED.setdefault(
        (name, backwards),
        LAYERS[name](3, return_sequences=True, return_state=True, go_backwards=backwards),
    )
    steps = max(lengths)
    x = random_inputs((len(lengths), steps, 2), seed=sum(lengths))
    mask = np.arange(steps)[None, :] < np.array(lengths)[:, None]
    padded_x = np.concatenate([x, np.full((len(lengths), extra, 2), 7.0, "float32")], axis=1)
    padded_mask = np.concatenate([mask, np.zeros((len(lengths), extra), bool)], axis=1)
    outputs, *states = layer(x, mask=mask)
    padded_outputs, *padded_states = layer(padded_x, mask=padded_mask)
    for s, p in zip(states, padded_states):
        np.testing.assert_allclose(s, p, rtol=1e-5, atol=1e-6)
    if not backwards:  # outputs are in processing order; forwards the valid steps align
        valid = mask[:, :, None]
        np.testing.assert_allclose(
            np.where(valid, outputs, 0),
            np.where(valid, padded_outputs[:, :steps], 0),
            rtol=1e-5,
            atol=1e-6,
        )


_CACHED = {}


@pytest.mark.parametrize("name", ["zoo_lstm", "peephole", "clockwork", "mogrifier"])
def test_model_with_and_without_xla_trains_to_the_same_weights(name):
    x = random_inputs((8, 6, 3), seed=12)
    y = random_inputs((8, 2), seed=13)
    weights = []
    for jit in (False, True):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((6, 3))
        model = keras.Model(inputs, keras.layers.Dense(2)(LAYERS[name](4)(inputs)))
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", jit_compile=jit)
        model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", LAYERS)
def test_stateful_layer_carries_state_across_calls(name):
    x = random_inputs((2, 6, 3), seed=14)
    whole = LAYERS[name](4, return_sequences=True)
    whole(x)
    stateful = LAYERS[name](4, return_sequences=True, stateful=True)
    stateful(x[:, :3])
    stateful.set_weights(whole.get_weights())
    stateful.reset_state()
    halves = np.concatenate([stateful(x[:, :3]), stateful(x[:, 3:])], axis=1)
    np.testing.assert_allclose(halves, whole(x), rtol=1e-5, atol=1e-6)


def test_lstm_weights_interchange_with_keras_lstm():
    x = random_inputs((3, 5, 4), seed=15)
    reference = keras.layers.LSTM(6, return_sequences=True, go_backwards=True)
    reference(x)
    ours = LSTM(6, return_sequences=True, go_backwards=True)
    ours(x)
    ours.set_weights(reference.get_weights())
    mask = MASK[:3, :5]
    np.testing.assert_allclose(ours(x, mask=mask), reference(x, mask=mask), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_weights_interchange_with_keras_gru(reset_after):
    x = random_inputs((3, 5, 4), seed=16)
    reference = keras.layers.GRU(6, return_sequences=True, reset_after=reset_after)
    reference(x)
    ours = GRU(6, return_sequences=True, reset_after=reset_after)
    ours(x)
    ours.set_weights(reference.get_weights())
    mask = MASK[:3, :5]
    np.testing.assert_allclose(ours(x, mask=mask), reference(x, mask=mask), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------- bad input
def test_wrong_rank_is_a_value_error():
    with pytest.raises(ValueError, match="rank 3|ndim=3|expected ndim"):
        LSTM(3)(np.zeros((2, 3), "float32"))


def test_wrong_feature_size_after_build_is_a_value_error():
    layer = GRU(3)
    layer(np.zeros((2, 4, 5), "float32"))
    with pytest.raises(ValueError, match="axis -1|5"):
        layer(np.zeros((2, 4, 6), "float32"))


def test_initial_state_of_wrong_shape_is_a_value_error():
    layer = LSTM(3)
    with pytest.raises(ValueError, match=r"initial_state\[1\] must have shape"):
        layer(np.zeros((2, 4, 5), "float32"), initial_state=[np.zeros((2, 3)), np.zeros((2, 4))])
    with pytest.raises(ValueError, match="expects 2 initial state"):
        layer(np.zeros((2, 4, 5), "float32"), initial_state=[np.zeros((2, 3), "float32")])


@pytest.mark.parametrize("units", [0, -1])
def test_non_positive_units_is_a_value_error(units):
    with pytest.raises(ValueError, match="positive integer"):
        PeepholeLSTM(units)


def test_activation_without_known_derivative_runs_autodiff_fast_loop_and_matches():
    x = random_inputs((4, 7, 3), seed=14)
    fast, generic = _pair(LSTM, x, activation="softsign", return_sequences=True)
    assert not fast.cell.hand_written_backward
    _assert_close(
        _outputs_and_gradients(fast, x, tf.constant(MASK), training=True)[1],
        _outputs_and_gradients(generic, x, tf.constant(MASK), training=True)[1],
    )
