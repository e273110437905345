"""The fused bidirectional layer against keras.layers.Bidirectional over the same weights."""

import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import lstm_zoo
from lstm_zoo.layers import Bidirectional
from tests.helpers import random_inputs, zoo_cell_names, zoo_layer

MASK = np.array(
    [[1] * 7, [1, 1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 1, 1], [0] * 7, [1, 0, 1, 1, 0, 1, 0]],
    dtype=bool,
)


def _pair(name, merge_mode="concat", **kwargs):
    def make():
        return zoo_layer(name, 5, **kwargs)

    x = random_inputs((5, 7, 4))
    ours = Bidirectional(make(), merge_mode=merge_mode, fuse_directions=True)
    reference = keras.layers.Bidirectional(make(), merge_mode=merge_mode)
    ours(x), reference(x)
    rng = np.random.RandomState(0)
    reference.set_weights([rng.normal(scale=0.4, size=w.shape) for w in reference.get_weights()])
    ours.set_weights(reference.get_weights())
    # cells whose step does its own matmuls with its weights run as two loops
    assert ours.uses_fused_loop == ours.forward_layer.cell.fuses_directions
    return ours, reference, x


def _run(layer, x, mask, training=True, initial_state=None):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = tf.nest.flatten(
            layer(x, mask=tf.constant(mask), training=training, initial_state=initial_state)
        )
        loss = sum(
            tf.reduce_sum(o * tf.sin(tf.reshape(tf.range(tf.size(o), dtype=o.dtype), o.shape)))
            for o in outputs
        )
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    return [o.numpy() for o in outputs], [g.numpy() for g in grads]


def _assert_same(ours, reference, x, mask=MASK, **kwargs):
    (out_a, grad_a), (out_b, grad_b) = (
        _run(ours, x, mask, **kwargs),
        _run(reference, x, mask, **kwargs),
    )
    assert len(out_a) == len(out_b)
    for a, b in zip(out_a + grad_a, out_b + grad_b):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", zoo_cell_names())
def test_every_cell_matches_keras_bidirectional(name):
    ours, reference, x = _pair(name, return_sequences=True, return_state=True)
    _assert_same(ours, reference, x)


@pytest.mark.parametrize("merge_mode", ["sum", "mul", "ave", None])
def test_merge_modes(merge_mode):
    ours, reference, x = _pair("zoo_lstm", merge_mode, return_sequences=True)
    _assert_same(ours, reference, x)


def test_last_output_states_and_inference():
    ours, reference, x = _pair("peephole", return_state=True)
    _assert_same(ours, reference, x, training=False)
    states = [tf.constant(random_inputs((5, 5), seed=s)) for s in range(4)]
    _assert_same(ours, reference, x, initial_state=states)


def test_falls_back_to_two_loops_where_it_cannot_fuse():
    keras_inside = Bidirectional(keras.layers.LSTM(3), fuse_directions=True)
    generic_zoo = Bidirectional(
        lstm_zoo.recurrent_layer("zoo_lstm", 3, fused=False), fuse_directions=True
    )
    assert not keras_inside.uses_fused_loop and not generic_zoo.uses_fused_loop
    on_cpu = Bidirectional(lstm_zoo.recurrent_layer("zoo_lstm", 3))
    assert on_cpu.fuse_directions == "auto"
    assert on_cpu.uses_fused_loop == bool(tf.config.list_logical_devices("GPU"))
    with pytest.raises(ValueError, match="fuse_directions"):
        Bidirectional(lstm_zoo.recurrent_layer("zoo_lstm", 3), fuse_directions="yes")
    x = random_inputs((2, 4, 3))
    assert keras_inside(x).shape == (2, 6) and generic_zoo(x).shape == (2, 6)


def test_config_and_keras_file_round_trip():
    inputs = keras.Input((7, 4))
    layer = Bidirectional(
        lstm_zoo.recurrent_layer("coupled", 5, return_sequences=True), fuse_directions=True
    )
    model = keras.Model(inputs, layer(inputs))
    x = random_inputs((5, 7, 4))
    expected = model.predict(x, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bidirectional.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.layers[-1], Bidirectional) and loaded.layers[-1].uses_fused_loop
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, atol=1e-6)
    assert Bidirectional.from_config(layer.get_config()).get_config() == layer.get_config()


def test_dropout_trains():
    layer = Bidirectional(
        lstm_zoo.recurrent_layer("zoo_lstm", 5, dropout=0.3, recurrent_dropout=0.3, seed=1),
        fuse_directions=True,
    )
    x = random_inputs((5, 7, 4))
    out_train, grads = _run(layer, x, MASK, training=True)
    assert all(np.all(np.isfinite(g)) for g in grads)
    assert not np.allclose(out_train[0], layer(x, mask=MASK, training=False).numpy())
