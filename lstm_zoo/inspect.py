"""Per-step gate activations and states of a recurrent layer, as numpy arrays.

`gate_activations(layer, inputs)` reruns a built recurrent layer over `inputs` [batch, time,
features] and returns what its cell computed at every step, each [batch, time, width]: the
cell's named gates (`cell.named_gates`, from its own `step`), then its states by
`cell.state_names` ("hidden" last), and "mask" [batch, time] (bool; all True without a mask):

    LSTM, peephole, coupled:  "input", "forget", "output", "candidate", "cell", "hidden"
    GRU:                      "update", "reset", "candidate", "hidden"
    any other zoo cell:       what its `named_gates` and `state_names` say (see its docstring)

The gates are those of the cell's docstring (`lstm_zoo.cells`): e.g. i_t, f_t, o_t, phi(z_c)
for the LSTM family (coupled: forget is 1 - i_t), z_t, r_t, h~_t for the GRU; "cell" is c_t
and "hidden" h_t. A new cell is inspectable with no edit here.

One source of truth: each step runs the zoo cell's own `step` (the method the fast layers and
`keras.layers.RNN` run), inside one `tf.function` over `tf.scan`. `keras.layers.LSTM` and
`keras.layers.GRU` (and `keras.layers.RNN` over their cells) have the zoo's weight layout and
equations, so their steps run through a zoo twin cell holding a copy of the Keras weights.

Conventions:
- Time order: always that of `inputs` (index t is token t), also for a `go_backwards` layer,
  which the layer itself returns in reversed (processing) order, and for the backward
  direction of a `Bidirectional`.
- Masks, as `keras.layers.RNN`: a masked step carries every state unchanged, so "cell" and
  "hidden" there hold the carried c_{t-1} and h_{t-1}. The gates there are the values the cell
  computes from x_t and the carried state, which the layer then discards: the arrays hold no
  NaN, and "mask" says which steps count. Where "mask" is True, "hidden" equals the layer's
  `return_sequences` output; at masked steps the layer outputs the carried h too, except
  zeros before a sequence's first unmasked step and with `zero_output_for_mask=True`.
- Inference mode: no dropout. A stateful layer starts from its current states (as its call
  would) unless `initial_state` is given; they are not updated.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from lstm_zoo.cells import GRUCell, LSTMCell
from lstm_zoo.cells.base import RecurrentCell
from lstm_zoo.gate_keys import GRU_KEYS, LSTM_KEYS  # noqa: F401  (the names inspect records)

_SUPPORTED = (
    "a zoo layer (any lstm_zoo.layers recurrent layer), keras.layers.LSTM, "
    "keras.layers.GRU, keras.layers.RNN over one of their cells, or a keras.layers.Bidirectional "
    "of one of these"
)


def gate_activations(layer, inputs, mask=None, initial_state=None):
    """Gate activations, cell and hidden states of a recurrent layer at every step.

    Args:
        layer: a built recurrent layer: a zoo layer, `keras.layers.LSTM` / `GRU`,
            `keras.layers.RNN` over a zoo or Keras LSTM/GRU cell, or a `keras.layers.Bidirectional`
            of one of these.
        inputs: float array [batch, time, features], what the layer receives.
        mask: bool array [batch, time] or None. False steps are padding (carried state).
        initial_state: list of [batch, size] arrays in the cell's state order (h, then c for
            the LSTM family) or None (zeros; a stateful layer's current states). For a
            `Bidirectional`, the forward states then the backward ones, as it takes them.

    Returns:
        A dict of numpy arrays [batch, time, width]: the cell's gates, its states ("hidden"
        last), then "mask" [batch, time] bool (`LSTM_KEYS`, `GRU_KEYS` for those families);
        time in the order of `inputs` (see the module docstring for masked steps). For a
        `Bidirectional`: {"forward": dict, "backward": dict}, the backward direction also in
        the order of `inputs`.

    Raises:
        ValueError: a layer that is not one of the above or not built, inputs not of rank 3 or
            of the wrong feature size, a mask or initial state of the wrong shape.

    Example:

    >>> from lstm_zoo.layers import LSTM
    >>> layer = LSTM(4, return_sequences=True)
    >>> x = np.ones((2, 3, 5), "float32")
    >>> _ = layer(x)
    >>> gates = gate_activations(layer, x)
    >>> gates["forget"].shape
    (2, 3, 4)
    """
    if isinstance(layer, keras.layers.Bidirectional):
        _check_built(layer)
        forward_state = backward_state = None
        if initial_state is not None:
            states = list(initial_state)
            if len(states) % 2:
                raise ValueError(
                    "A Bidirectional layer takes the forward then the backward initial states, "
                    f"an even number of tensors; got {len(states)}."
                )
            half = len(states) // 2
            forward_state, backward_state = states[:half], states[half:]
        return {
            "forward": gate_activations(layer.forward_layer, inputs, mask, forward_state),
            "backward": gate_activations(layer.backward_layer, inputs, mask, backward_state),
        }
    if not isinstance(layer, keras.layers.RNN):
        raise ValueError(
            f"gate_activations needs {_SUPPORTED}; got {type(layer).__name__} "
            f"{getattr(layer, 'name', '')!r}."
        )
    _check_built(layer)
    equations, run = _equations(layer.cell)
    x = _check_inputs(inputs, equations.input_dim)
    batch, steps = x.shape[:2]
    step_mask = _check_mask(mask, (batch, steps))
    states0 = _initial_states(layer, equations, initial_state, batch)

    if layer.go_backwards:
        x, step_mask = x[:, ::-1], step_mask[:, ::-1]
    equations.copy_weights()
    gates, states = run(
        tf.constant(x, equations.dtype),
        tf.constant(step_mask),
        [tf.constant(s, equations.dtype) for s in states0],
    )
    named_states = dict(zip(equations.cell.state_names, states))
    hidden = named_states.pop("hidden")
    result = {**gates, **named_states, "hidden": hidden}
    result = {name: np.swapaxes(value.numpy(), 0, 1) for name, value in result.items()}
    result["mask"] = step_mask
    if layer.go_backwards:
        result = {name: value[:, ::-1] for name, value in result.items()}
    return {key: np.ascontiguousarray(value) for key, value in result.items()}


def _equations(cell):
    """The cell's `_Equations` and its compiled scan, built once per cell (kept on the cell,
    outside Keras's attribute tracking, as the cells keep their `GateActivations`)."""
    cached = cell.__dict__.get("_lstm_zoo_inspect")
    if cached is None:
        equations = _Equations(cell)
        run = tf.function(equations.scan, autograph=False, reduce_retracing=True)
        cached = cell.__dict__["_lstm_zoo_inspect"] = (equations, run)
    return cached


class _Equations:
    """The zoo cell whose `step` runs: the layer's own, or a twin of a Keras LSTM/GRU cell."""

    def __init__(self, cell):
        self.source = cell
        if isinstance(cell, RecurrentCell):
            self.cell = cell
        elif type(cell) in (keras.layers.LSTMCell, keras.layers.GRUCell):
            self.cell = _twin(cell)
        else:
            raise ValueError(
                f"gate_activations needs {_SUPPORTED}; got a keras.layers.RNN over "
                f"{type(cell).__name__}, whose gates it does not know."
            )
        self.units = cell.units
        self.input_dim = cell.kernel.shape[0]
        self.dtype = cell.kernel.dtype
        self.state_sizes = list(self.cell.state_size)

    def copy_weights(self):
        """A twin takes the Keras cell's current weights (same names, shapes and order)."""
        if self.cell is not self.source:
            for twin, weight in zip(self.cell.weights, self.source.weights):
                twin.assign(weight)

    def scan(self, x, mask, states0):
        """Every step over x [batch, time, features]; returns ({gate: [time, batch, width]},
        [state sequences]), time-major."""
        cell = self.cell
        xz = cell.input_projection(tf.transpose(x, [1, 0, 2]))
        kernel, extra = cell.loop_kernel(), cell.extra_weight_values()
        mask = tf.transpose(mask)[:, :, tf.newaxis]

        def gates_and_states(xz_t, states):
            hz = cell.recurrent_projection(cell.recurrent_inputs(states, None), kernel)
            _, new_states, saved = cell.step(xz_t, hz, states, extra)
            return cell.named_gates(saved), new_states

        def one_step(carry, elements):
            states, _ = carry
            xz_t, mask_t = elements
            gates, new_states = gates_and_states(xz_t, list(states))
            new_states = [tf.where(mask_t, n, s) for n, s in zip(new_states, states)]
            return tuple(new_states), gates

        probe = gates_and_states(xz[0], list(states0))[0]
        start = (tuple(states0), {k: tf.zeros_like(v) for k, v in probe.items()})
        states, gates = tf.scan(one_step, (xz, mask), initializer=start)
        return gates, list(states)


def _twin(cell):
    """A zoo LSTMCell/GRUCell with a Keras cell's configuration, built for its input size."""
    options = {
        "activation": cell.activation,
        "recurrent_activation": cell.recurrent_activation,
        "use_bias": cell.use_bias,
        "dtype": cell.dtype_policy,
    }
    if isinstance(cell, keras.layers.GRUCell):
        twin = GRUCell(cell.units, reset_after=cell.reset_after, **options)
    else:
        twin = LSTMCell(cell.units, **options)
    twin.build((None, cell.kernel.shape[0]))
    return twin


def _value(weight):
    return tf.convert_to_tensor(keras.ops.convert_to_tensor(weight))


def _to_numpy(value):
    """A numpy array from an array, a tensor or a variable."""
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def _check_built(layer):
    if not layer.built:
        raise ValueError(
            f"Layer {layer.name!r} is not built: call it on data (or build its model) before "
            "reading its gate activations."
        )


def _check_inputs(inputs, input_dim):
    x = _to_numpy(inputs)
    if x.ndim != 3:
        raise ValueError(
            f"inputs must have rank 3 [batch, time, features]; got shape {tuple(x.shape)}."
        )
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"inputs must be numbers; got dtype {x.dtype}.")
    if x.shape[-1] != input_dim:
        raise ValueError(
            f"inputs have {x.shape[-1]} features but the layer's kernel expects {input_dim}; "
            f"got shape {tuple(x.shape)}."
        )
    if x.shape[1] == 0:
        raise ValueError("inputs have no time steps (shape[1] == 0).")
    return x


def _check_mask(mask, shape):
    if mask is None:
        return np.ones(shape, dtype=bool)
    mask = _to_numpy(mask)
    if tuple(mask.shape) != tuple(shape):
        raise ValueError(
            f"mask must have shape [batch, time] = {tuple(shape)}; got {tuple(mask.shape)}."
        )
    if mask.dtype != bool:
        if not np.isin(mask, (0, 1)).all():
            raise ValueError("mask must be boolean (or 0/1); got other values.")
        mask = mask.astype(bool)
    return mask


def _initial_states(layer, equations, initial_state, batch):
    sizes = equations.state_sizes
    if initial_state is None:
        if getattr(layer, "stateful", False) and getattr(layer, "states", None) is not None:
            initial_state = list(layer.states)
        else:
            return [np.zeros((batch, size)) for size in sizes]
    states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
    if len(states) != len(sizes):
        shapes = ", ".join(f"[batch, {size}]" for size in sizes)
        raise ValueError(
            f"{layer.name!r} takes {len(sizes)} initial state tensor(s) of shapes {shapes}; "
            f"got {len(states)}."
        )
    states = [_to_numpy(s) for s in states]
    for index, (state, size) in enumerate(zip(states, sizes)):
        if tuple(state.shape) != (batch, size):
            raise ValueError(
                f"initial_state[{index}] must have shape [batch={batch}, {size}]; "
                f"got {tuple(state.shape)}."
            )
    return states


def write_gate_heatmaps(model, layer_name, token_ids, token_labels, path, units=None, title=None):
    """Write a PNG of one recurrent layer's gates over one sentence of a token-id model.

    Takes the sub-model from the model's inputs to what the layer receives (its input and the
    padding mask the embedding propagates), runs it on the sentence, computes
    `gate_activations` and draws them with `lstm_zoo.plots.plot_gate_heatmaps` (a
    `Bidirectional` layer: both directions side by side). Stateful models, or models with a
    fixed input shape, run through a stateless copy with the same weights (the model itself
    and its states are left untouched); the layer starts from zero states.

    Args:
        model: a functional `keras.Model` over token ids [batch, time] (the factories of
            `lstm_zoo.models`: language_model, sentiment_classifier, sequence_tagger).
        layer_name: str or None. Name of a recurrent (or Bidirectional) layer of `model`;
            None: the first one.
        token_ids: 1-D ints, the sentence.
        token_labels: one string per token (the x axis).
        path: str or PathLike of the PNG to write.
        units, title: passed to `plot_gate_heatmaps`.

    Returns:
        The activations dict that was drawn (see `gate_activations`), batch of one.
    """
    from lstm_zoo.plots import plot_gate_heatmaps

    token_ids = np.asarray(token_ids)
    if token_ids.ndim != 1 or token_ids.size == 0 or not np.issubdtype(token_ids.dtype, np.integer):
        raise ValueError(
            f"token_ids must be a non-empty 1-D sequence of ints (one sentence); got shape "
            f"{token_ids.shape} and dtype {token_ids.dtype}."
        )
    if len(token_labels) != len(token_ids):
        raise ValueError(
            f"token_labels has {len(token_labels)} entries for {len(token_ids)} token ids."
        )
    layer = _recurrent_layer(model, layer_name)
    if _needs_stateless_copy(model):
        model = _stateless_copy(model)
        layer = model.get_layer(layer.name)
    inputs = _recurrent_inputs(layer)
    features_model = keras.Model(model.inputs, inputs)
    outputs = features_model([token_ids[None, :].astype("int32")])
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    features = outputs[0]
    mask = outputs[1] if len(outputs) > 1 else None
    activations = gate_activations(layer, features, mask=mask)
    plot_gate_heatmaps(activations, list(token_labels), path, units=units, title=title)
    return activations


def _is_recurrent(layer):
    return isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))


def _recurrent_layer(model, layer_name):
    candidates = [layer.name for layer in model.layers if _is_recurrent(layer)]
    if layer_name is None:
        if not candidates:
            raise ValueError(f"Model {model.name!r} has no recurrent layer.")
        layer_name = candidates[0]
    names = {layer.name: layer for layer in model.layers}
    if layer_name not in names or not _is_recurrent(names[layer_name]):
        raise ValueError(
            f"Model {model.name!r} has no recurrent layer named {layer_name!r}; its recurrent "
            f"layers: {', '.join(candidates) or 'none'}."
        )
    return names[layer_name]


def _recurrent_inputs(layer):
    """(sequences, mask) or [sequences]: the tensors of the model that reach the layer."""
    inputs = layer.input
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    sequences = [t for t in inputs if len(t.shape) == 3]
    masks = [t for t in inputs if len(t.shape) == 2 and t.dtype == "bool"]
    if len(sequences) != 1 or len(masks) > 1 or len(sequences) + len(masks) != len(inputs):
        raise ValueError(
            f"Layer {layer.name!r} receives tensors other than its sequences and mask (e.g. an "
            "initial state from the graph); write_gate_heatmaps does not support that."
        )
    return sequences + masks


def _needs_stateless_copy(model):
    fixed_shape = any(d is not None for t in model.inputs for d in t.shape)
    return fixed_shape or any(_stateful(layer) for layer in model.layers)


def _stateful(layer):
    if isinstance(layer, keras.layers.Bidirectional):
        return layer.forward_layer.stateful or layer.backward_layer.stateful
    return bool(getattr(layer, "stateful", False))


def _stateless_copy(model):
    """The model rebuilt over inputs of any batch and length, with non-stateful recurrent
    layers and the same weights."""
    if len(model.inputs) != 1:
        raise ValueError("write_gate_heatmaps supports models with one token-id input.")

    def clone(layer):
        config = layer.get_config()
        if _stateful(layer):
            if isinstance(layer, keras.layers.Bidirectional):
                raise ValueError(
                    f"Layer {layer.name!r} is a stateful Bidirectional layer; rebuild the model "
                    "with stateful=False and copy the weights."
                )
            config["stateful"] = False
        return layer.__class__.from_config(config)

    token_input = model.inputs[0]
    inputs = keras.Input(shape=(None,), dtype=token_input.dtype, name=token_input.name)
    copy = keras.models.clone_model(model, input_tensors=inputs, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy
