"""gate_activations against the layers' own outputs and states and against numpy equations."""

import keras
import numpy as np
import pytest

from lstm_zoo import layers
from lstm_zoo.inspect import GRU_KEYS, LSTM_KEYS, gate_activations
from tests import references
from tests.helpers import random_inputs, zoo_cell_names, zoo_layer

UNITS = 5
X = random_inputs((3, 7, 4), seed=3)
# Leading, inner and trailing padding; one sequence unmasked.
MASK = np.array(
    [
        [1, 1, 1, 1, 1, 1, 1],
        [0, 1, 1, 0, 1, 1, 0],
        [1, 1, 1, 1, 0, 0, 0],
    ],
    dtype=bool,
)

ZOO_LAYERS = {
    "lstm": lambda **kw: layers.LSTM(UNITS, **kw),
    "peephole": lambda **kw: layers.PeepholeLSTM(UNITS, **kw),
    "coupled": lambda **kw: layers.CoupledLSTM(UNITS, **kw),
    "gru": lambda **kw: layers.GRU(UNITS, **kw),
    "gru_reset_before": lambda **kw: layers.GRU(UNITS, reset_after=False, **kw),
}


def _build(make, x=X, seed=0, **kwargs):
    """A layer built on x, with random weights of scale 0.5 (gates far from 0.5)."""
    layer = make(return_sequences=True, return_state=True, **kwargs)
    layer(x)
    rng = np.random.RandomState(seed)
    layer.set_weights([rng.normal(scale=0.5, size=w.shape) for w in layer.get_weights()])
    return layer


def _reference(name, layer, x, mask=None, state=None):
    """The numpy equations of tests/references.py with the layer's weights."""
    cell = layer.cell
    weights = [w.numpy().astype("float64") for w in (cell.kernel, cell.recurrent_kernel)]
    bias = cell.bias.numpy().astype("float64")
    x = np.asarray(x, "float64")
    if name.startswith("gru"):
        reset_after = name == "gru"
        h = None if state is None else state[0]
        return references.gru_gates(x, *weights, bias, reset_after=reset_after, mask=mask, h=h)
    peepholes = None
    if name == "peephole":
        peepholes = [w.numpy().astype("float64") for w in cell.extra_weights()]
    return references.lstm_gates(
        x, *weights, bias, peepholes=peepholes, coupled=name == "coupled", mask=mask, state=state
    )


def _numpy(tensors):
    return [keras.ops.convert_to_numpy(keras.ops.convert_to_tensor(t)) for t in tensors]


@pytest.mark.parametrize("name", sorted(ZOO_LAYERS))
def test_gates_match_numpy_equations_and_the_layer(name):
    layer = _build(ZOO_LAYERS[name])
    outputs, *states = _numpy(layer(X))
    gates = gate_activations(layer, X)

    keys = GRU_KEYS if name.startswith("gru") else LSTM_KEYS
    assert set(gates) == {*keys, "mask"}
    assert gates["mask"].all() and gates["mask"].shape == X.shape[:2]
    for key in keys:
        assert gates[key].shape == (3, 7, UNITS) and gates[key].dtype == np.float32
    expected = _reference(name, layer, X)
    for key in keys:
        np.testing.assert_allclose(gates[key], expected[key], atol=1e-5, err_msg=key)

    # The layer's own results: its output sequence and final states.
    np.testing.assert_allclose(gates["hidden"], outputs, atol=1e-5)
    np.testing.assert_allclose(gates["hidden"][:, -1], states[0], atol=1e-5)
    if "cell" in keys:
        np.testing.assert_allclose(gates["cell"][:, -1], states[1], atol=1e-5)

    sigmoid_gates = ("update", "reset") if name.startswith("gru") else ("input", "forget", "output")
    for key in sigmoid_gates:
        assert 0.0 <= gates[key].min() and gates[key].max() <= 1.0
        assert gates[key].std() > 0.05, f"{key} is nearly constant: the test would be weak"
    assert np.abs(gates["candidate"]).max() <= 1.0
    if name == "coupled":
        np.testing.assert_allclose(gates["forget"], 1.0 - gates["input"], atol=1e-7)


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("name", sorted(ZOO_LAYERS))
def test_masks_and_go_backwards(name, go_backwards):
    layer = _build(ZOO_LAYERS[name], go_backwards=go_backwards)
    outputs, *states = _numpy(layer(X, mask=MASK))
    gates = gate_activations(layer, X, mask=MASK)
    np.testing.assert_array_equal(gates["mask"], MASK)

    # Time in the order of the inputs; the layer returns processing order.
    if go_backwards:
        outputs = outputs[:, ::-1]
    np.testing.assert_allclose(gates["hidden"][MASK], outputs[MASK], atol=1e-5)
    last = 0 if go_backwards else -1  # the state after the layer's last step
    np.testing.assert_allclose(gates["hidden"][:, last], states[0], atol=1e-5)
    if len(states) > 1:
        np.testing.assert_allclose(gates["cell"][:, last], states[1], atol=1e-5)

    # Reference: the same equations over the time-reversed sequence, reversed back.
    x, mask = (X[:, ::-1], MASK[:, ::-1]) if go_backwards else (X, MASK)
    expected = _reference(name, layer, x, mask=mask)
    for key, value in expected.items():
        value = value[:, ::-1] if go_backwards else value
        np.testing.assert_allclose(gates[key], value, atol=1e-5, err_msg=key)

    # Masked step 3 of sequence 1 carries the state of the step processed before it.
    previous = 4 if go_backwards else 2
    np.testing.assert_array_equal(gates["hidden"][1, 3], gates["hidden"][1, previous])


def test_padding_does_not_change_the_gates_of_real_steps():
    layer = _build(ZOO_LAYERS["lstm"])
    padded = X.copy()
    padded[2, 4:] = 100.0  # garbage under the mask
    clean = gate_activations(layer, X, mask=MASK)
    dirty = gate_activations(layer, padded, mask=MASK)
    for key in LSTM_KEYS:
        np.testing.assert_allclose(clean[key][2, :4], dirty[key][2, :4], atol=1e-6)
    np.testing.assert_array_equal(dirty["cell"][2, 4:], np.repeat(dirty["cell"][2, 3:4], 3, 0))


@pytest.mark.parametrize("name", ["lstm", "gru"])
def test_initial_state_is_used(name):
    layer = _build(ZOO_LAYERS[name])
    count = 1 if name == "gru" else 2
    state = [random_inputs((3, UNITS), seed=10 + i) for i in range(count)]
    outputs, *_ = _numpy(layer(X, initial_state=state))
    gates = gate_activations(layer, X, initial_state=state)
    np.testing.assert_allclose(gates["hidden"], outputs, atol=1e-5)
    expected = _reference(name, layer, X, state=[s.astype("float64") for s in state])
    np.testing.assert_allclose(gates["hidden"], expected["hidden"], atol=1e-5)


def test_stateful_layer_starts_from_its_current_states_and_keeps_them():
    layer = layers.LSTM(UNITS, return_sequences=True, stateful=True)
    x = random_inputs((2, 4, 3), seed=4)
    layer(x)  # states now hold the end of the first batch
    before = [s.numpy() for s in layer.states]
    gates = gate_activations(layer, x)
    np.testing.assert_array_equal(layer.states[0].numpy(), before[0])
    expected = _numpy([layer(x)])[0]  # the layer's own second call, from the same states
    np.testing.assert_allclose(gates["hidden"], expected, atol=1e-5)


@pytest.mark.parametrize("name", sorted(ZOO_LAYERS))
def test_bidirectional_returns_both_directions_in_input_order(name):
    make = ZOO_LAYERS[name]
    wrapper = keras.layers.Bidirectional(make(return_sequences=True))
    output = _numpy([wrapper(X, mask=MASK)])[0]
    gates = gate_activations(wrapper, X, mask=MASK)
    assert set(gates) == {"forward", "backward"}
    # Bidirectional puts the backward outputs back in input order and concatenates.
    np.testing.assert_allclose(
        gates["forward"]["hidden"][MASK], output[..., :UNITS][MASK], atol=1e-5
    )
    np.testing.assert_allclose(
        gates["backward"]["hidden"][MASK], output[..., UNITS:][MASK], atol=1e-5
    )
    backward_alone = gate_activations(wrapper.backward_layer, X, mask=MASK)
    for key, value in backward_alone.items():
        np.testing.assert_array_equal(gates["backward"][key], value)
    # The backward direction reads the sequence from its end: its state at the first real
    # token is its final state.
    with_states = keras.layers.Bidirectional(make(return_state=True))
    with_states(X)
    with_states.set_weights(wrapper.get_weights())
    _, *states = _numpy(with_states(X, mask=MASK))
    half = len(states) // 2
    np.testing.assert_allclose(gates["backward"]["hidden"][0, 0], states[half][0], atol=1e-5)


@pytest.mark.parametrize(
    "zoo, builtin",
    [
        (lambda: layers.LSTM(UNITS), lambda: keras.layers.LSTM(UNITS)),
        (lambda: layers.GRU(UNITS), lambda: keras.layers.GRU(UNITS)),
        (
            lambda: layers.GRU(UNITS, reset_after=False),
            lambda: keras.layers.GRU(UNITS, reset_after=False),
        ),
    ],
)
def test_keras_builtin_layers_give_the_zoo_layers_gates(zoo, builtin):
    reference = _build(lambda **kw: builtin())
    keras_layer = builtin()
    keras_layer(X)
    keras_layer.set_weights(reference.get_weights())
    ours = zoo()
    ours(X)
    ours.set_weights(reference.get_weights())
    keras_gates = gate_activations(keras_layer, X, mask=MASK)
    zoo_gates = gate_activations(ours, X, mask=MASK)
    for key, value in zoo_gates.items():
        np.testing.assert_allclose(keras_gates[key], value, atol=1e-6, err_msg=key)
    keras_layer.return_sequences = True
    outputs = _numpy([keras_layer(X, mask=MASK)])[0]
    np.testing.assert_allclose(keras_gates["hidden"][MASK], outputs[MASK], atol=1e-5)


def test_keras_rnn_over_a_zoo_cell_and_keras_bidirectional_lstm():
    from lstm_zoo.cells import PeepholeLSTMCell

    rnn = keras.layers.RNN(PeepholeLSTMCell(UNITS), return_sequences=True)
    outputs = _numpy([rnn(X)])[0]
    np.testing.assert_allclose(gate_activations(rnn, X)["hidden"], outputs, atol=1e-5)

    wrapper = keras.layers.Bidirectional(keras.layers.LSTM(UNITS, return_sequences=True))
    output = _numpy([wrapper(X, mask=MASK)])[0]
    gates = gate_activations(wrapper, X, mask=MASK)
    np.testing.assert_allclose(
        gates["backward"]["hidden"][MASK], output[..., UNITS:][MASK], atol=1e-5
    )


def test_bad_inputs_raise_value_errors_naming_the_problem():
    layer = _build(ZOO_LAYERS["lstm"])
    with pytest.raises(ValueError, match="rank 3"):
        gate_activations(layer, X[0])
    with pytest.raises(ValueError, match="3 features"):
        gate_activations(layer, X[..., :3])
    with pytest.raises(ValueError, match="mask must have shape"):
        gate_activations(layer, X, mask=MASK[:, :3])
    with pytest.raises(ValueError, match="boolean"):
        gate_activations(layer, X, mask=MASK * 2)
    with pytest.raises(ValueError, match="initial state"):
        gate_activations(layer, X, initial_state=[np.zeros((3, UNITS))])
    with pytest.raises(ValueError, match=r"initial_state\[1\] must have shape"):
        gate_activations(layer, X, initial_state=[np.zeros((3, UNITS)), np.zeros((2, UNITS))])

    dense = keras.layers.Dense(3)
    dense(X)
    with pytest.raises(ValueError, match="got Dense"):
        gate_activations(dense, X)
    simple = keras.layers.SimpleRNN(3)
    simple(X)
    with pytest.raises(ValueError, match="SimpleRNNCell"):
        gate_activations(simple, X)
    with pytest.raises(ValueError, match="not built"):
        gate_activations(layers.GRU(3), X)


@pytest.mark.parametrize("name", zoo_cell_names())
def test_every_registered_cell_reports_its_gates_and_states(name):
    """No per-cell code in inspect.py: the cell names its gates (from its own step) and its
    states; every state sequence ends in the layer's final states."""
    layer = _build(lambda **kw: zoo_layer(name, 4, **kw), go_backwards=True)
    outputs, *states = _numpy(layer(X, mask=MASK))
    gates = gate_activations(layer, X, mask=MASK)
    state_names = layer.cell.state_names
    assert list(gates)[-2:] == ["hidden", "mask"] and set(state_names) <= set(gates)
    assert set(gates) - set(state_names) - {"mask"}, "no gates reported"
    for key, value in gates.items():
        assert value.shape[:2] == (3, 7) and np.isfinite(value).all(), key
    np.testing.assert_allclose(gates["hidden"][MASK], outputs[:, ::-1][MASK], atol=1e-5)
    for state_name, state in zip(state_names, states):
        np.testing.assert_allclose(gates[state_name][:, 0], state, atol=1e-5, err_msg=state_name)
