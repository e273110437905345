"""Loop functions shared between layers whose cells are configured alike (XLA loop)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from lstm_zoo.cells import LSTMCell
from lstm_zoo.kernels import disabled
from lstm_zoo.layers.loop_functions import loop_identity
from lstm_zoo.layers.scan import FusedScan
from tests.helpers import random_inputs, zoo_layer


def _traced(scan):
    """Every traced function of a FusedScan's loops."""
    loops = (scan._forward, scan._forward_inference, scan._backward, scan._autodiff_backward)
    return [f for loop in loops for f in loop._traced.values()]


def _run(layer, x):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * tf.sin(tf.reshape(tf.range(tf.size(y), dtype=y.dtype), y.shape)))
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    return [y.numpy()] + [g.numpy() for g in grads]


@pytest.mark.parametrize("name", ["peephole", "mut1"])  # hand-written and autodiff backward
def test_the_two_directions_of_keras_bidirectional_share_loops_and_keep_their_weights(name):
    """keras.layers.Bidirectional over a zoo layer on the XLA loop: the backward layer calls the
    forward layer's traced loops (one compiled program per capacity for both), and each
    direction still runs with its own weights: outputs and gradients equal Keras's generic
    loop over the same weights."""
    x = random_inputs((4, 9, 3))
    ours = keras.layers.Bidirectional(zoo_layer(name, 5, return_sequences=True))
    reference = keras.layers.Bidirectional(zoo_layer(name, 5, return_sequences=True, fused=False))
    ours(x), reference(x)
    rng = np.random.RandomState(3)
    reference.set_weights([rng.normal(scale=0.5, size=w.shape) for w in reference.get_weights()])
    ours.set_weights(reference.get_weights())
    with disabled():
        results = _run(ours, x)
    for got, expected in zip(results, _run(reference, x)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    forward, backward = ours.forward_layer._scan, ours.backward_layer._scan
    assert forward is not backward and _traced(forward)
    assert _traced(forward) == _traced(backward)
    assert all(a is b for a, b in zip(_traced(forward), _traced(backward)))


def test_loops_of_different_configurations_are_not_shared():
    """Another activation, unit count, direction count or compilation: another loop."""
    base = zoo_layer("mut1", 5).cell
    others = [
        zoo_layer("mut1", 6).cell,
        zoo_layer("mut1", 5, activation="relu").cell,
        zoo_layer("mut2", 5).cell,
    ]
    key = loop_identity(base, directions=1, jit_compile=True)
    assert loop_identity(zoo_layer("mut1", 5, seed=7).cell, directions=1, jit_compile=True) == key
    assert all(loop_identity(c, directions=1, jit_compile=True) != key for c in others)
    assert loop_identity(base, directions=2, jit_compile=True) != key
    assert loop_identity(base, directions=1, jit_compile=False) != key


class _ScaledLSTMCell(LSTMCell):
    """h_t = scale * (the LSTM's h_t), with `scale` a tensor held by the cell and left out of
    its configuration (against the loop's contract: every weight an argument, everything
    else in the config). Its traced loop captures the tensor, so it must not be shared.
    (A cell that reads its own variables in `step` cannot run at all: the loop's custom
    gradient refuses variables it is not given.)"""

    def __init__(self, units, scale, **kwargs):
        super().__init__(units, **kwargs)
        self._scale = tf.constant(scale, tf.float32)

    @property
    def hand_written_backward(self):
        return False

    def step(self, xz, hz, states, extra):
        h, new_states, saved = super().step(xz, hz, states, extra)
        h = h * self._scale
        return h, [h, *new_states[1:]], saved


def test_a_loop_that_captures_a_tensor_of_its_cell_is_not_shared():
    cells = [_ScaledLSTMCell(4, scale, name=f"scaled_{scale}") for scale in (1.0, 2.0)]
    for cell in cells:
        cell.build((None, 3))
    cells[1].set_weights(cells[0].get_weights())
    assert loop_identity(cells[0]) == loop_identity(cells[1])
    rng = np.random.RandomState(0)
    xz = tf.constant(rng.normal(size=(5, 2, 16)).astype("float32"))
    states = [tf.zeros([2, 4]), tf.zeros([2, 4])]
    scans = [FusedScan(cell, jit_compile=True, use_native=False) for cell in cells]
    h = [
        scan(xz, states, cell.loop_kernel(), None, [], training=False)[0].numpy()
        for scan, cell in zip(scans, cells)
    ]
    np.testing.assert_allclose(h[1][0], 2.0 * h[0][0], rtol=1e-6)  # step 1 from zero states
    assert not set(map(id, _traced(scans[0]))) & set(map(id, _traced(scans[1])))
