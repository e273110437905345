"""The one check every layer test runs (in the spirit of keras-hub's `run_layer_test`)."""

import os
import tempfile

import keras
import numpy as np
import tensorflow as tf


def random_inputs(shape, seed=0, dtype="float32"):
    return np.random.RandomState(seed).normal(size=shape).astype(dtype)


def copy_weights(source, target):
    """Build `target` like `source` was built and copy the weights 1:1."""
    target.set_weights(source.get_weights())
    return target


def run_layer_test(make_layer, input_shape=(3, 5, 4), atol=1e-6):
    """Build; eager == tf.function; one fit step; get_config round trip; .keras save/load with
    safe_mode=True; inside Bidirectional (whose backward layer is rebuilt from the config).

    Args:
        make_layer: callable(**overrides) -> a fresh layer; called with return_sequences=True
            for the Bidirectional and fit checks.
        input_shape: (batch, time, features).
    """
    x = random_inputs(input_shape)
    layer = make_layer()
    eager = keras.ops.convert_to_numpy(layer(x))
    assert np.all(np.isfinite(eager)), "non-finite outputs"

    graph = tf.function(lambda inputs: layer(inputs))(tf.constant(x))
    np.testing.assert_allclose(eager, graph.numpy(), atol=atol, err_msg="eager vs tf.function")

    # get_config round trip: same config, same outputs with the same weights.
    config = layer.get_config()
    clone = type(layer).from_config(config)
    clone(x)
    assert clone.get_config() == config, "get_config does not round-trip"
    copy_weights(layer, clone)
    np.testing.assert_allclose(eager, keras.ops.convert_to_numpy(clone(x)), atol=atol)

    # A model around it: one fit step changes the weights, .keras save/load with safe_mode.
    inputs = keras.Input(shape=input_shape[1:])
    model = keras.Model(inputs, keras.layers.Dense(2)(make_layer(return_sequences=True)(inputs)))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(x, np.ones(input_shape[:2] + (2,)), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights())), "fit no-op"
    expected = model.predict(x, verbose=0)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.keras")
        model.save(path)
        loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(expected, loaded.predict(x, verbose=0), atol=atol)

    # Bidirectional rebuilds the backward layer from the config.
    bidirectional = keras.layers.Bidirectional(make_layer(return_sequences=True))
    output = keras.ops.convert_to_numpy(bidirectional(x))
    assert output.shape == input_shape[:2] + (2 * layer.cell.units,)
    assert bidirectional.backward_layer.go_backwards
    return layer


def zoo_cell_names():
    """Registry names of every zoo cell (lstm_zoo.cells.registered_cells), so a new cell is
    tested by every test that loops over them."""
    from lstm_zoo.cells import registered_cells

    return [entry.name for entry in registered_cells()]


def cell_options(name, units):
    """Arguments a cell needs at a test's size: a clockwork cell's periods must divide units
    (its default (1, 2, 4, 8) needs units divisible by 4)."""
    from lstm_zoo.layers.registry import registry_entries

    entry = {e.name: e for e in registry_entries()}[name]
    cell_class = getattr(entry.factory, "cell_class", None)
    if cell_class is not None and "periods" in cell_class.__init__.__code__.co_varnames:
        count = next(g for g in (4, 3, 2, 1) if units % g == 0)
        return {"periods": (1, 2, 4, 8)[:count]}
    return {}


def zoo_layer(name, units, **kwargs):
    """`lstm_zoo.recurrent_layer(name, units, ...)` with the options the cell needs."""
    import lstm_zoo

    return lstm_zoo.recurrent_layer(name, units, **cell_options(name, units), **kwargs)
