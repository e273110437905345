"""Per-step gate activations and states of a recurrent layer, as numpy arrays.

`gate_activations(layer, inputs)` reruns a built recurrent layer over `inputs` [batch, time,
features] and returns what its cell computed at every step, each [batch, time, units]:

    LSTM, peephole LSTM, coupled LSTM:  "input", "forget", "output", "candidate", "cell",
                                        "hidden"
    GRU:                                "update", "reset", "candidate", "hidden"

and "mask" [batch, time] (bool; all True without a mask). The gates are those of the cell's
docstring (`lstm_zoo.cells`): i_t, f_t, o_t, phi(z_c) for the LSTM family (coupled: forget is
1 - i_t), z_t, r_t, h~_t for the GRU; "cell" is c_t and "hidden" h_t.

One source of truth: each step runs the zoo cell's own `step` (the method the fast layers and
`keras.layers.RNN` run), inside one `tf.function` over `tf.scan`; the gates are read from what
`step` saves for its backward pass. `keras.layers.LSTM` and `keras.layers.GRU` (and
`keras.layers.RNN` over their cells) have the zoo's weight layout and equations, so their steps
run through a zoo cell with the same activations and the Keras layer's weights. GRU with
`reset_after=False`, whose candidate is phi(x_h + (r_t * h_{t-1}) U_h), runs the same `step`
with (r_t * h_{t-1}) U_h added to the input projection's candidate block and a zero recurrent
one.

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

from lstm_zoo.cells import CoupledLSTMCell, GRUCell, LSTMCell, PeepholeLSTMCell

LSTM_KEYS = ("input", "forget", "output", "candidate", "cell", "hidden")
GRU_KEYS = ("update", "reset", "candidate", "hidden")

_SUPPORTED = (
    "a zoo layer (lstm_zoo.layers: LSTM, PeepholeLSTM, CoupledLSTM, GRU), keras.layers.LSTM, "
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
        initial_state: list of [batch, units] arrays (h, then c for the LSTM family) or None
            (zeros; a stateful layer's current states). For a `Bidirectional`, the forward
            states then the backward ones, as `Bidirectional` takes them.

    Returns:
        A dict of numpy arrays [batch, time, units] keyed as `LSTM_KEYS` or `GRU_KEYS`, plus
        "mask" [batch, time] bool; time in the order of `inputs` (see the module docstring for
        masked steps). For a `Bidirectional`: {"forward": dict, "backward": dict}, the backward
        direction also in the order of `inputs`.

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
    gates, states = run(
        tf.constant(x, equations.dtype),
        tf.constant(step_mask),
        [tf.constant(s, equations.dtype) for s in states0],
        equations.weights(),
    )
    names = equations.gate_names + equations.state_names
    result = {
        name: np.swapaxes(value.numpy(), 0, 1) for name, value in zip(names, [*gates, *states])
    }
    result["mask"] = step_mask
    if layer.go_backwards:
        result = {name: value[:, ::-1] for name, value in result.items()}
    keys = LSTM_KEYS if equations.family == "lstm" else GRU_KEYS
    return {key: np.ascontiguousarray(result[key]) for key in (*keys, "mask")}


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
    """One cell's step as the zoo writes it: weights, the zoo cell whose `step` runs, and how
    to read the gates from what `step` saves."""

    def __init__(self, cell):
        self.source = cell
        self.reset_before = False
        if isinstance(cell, (LSTMCell, PeepholeLSTMCell, CoupledLSTMCell, GRUCell)):
            self.cell = cell
        elif type(cell) is keras.layers.LSTMCell:
            self.cell = LSTMCell(
                cell.units,
                activation=cell.activation,
                recurrent_activation=cell.recurrent_activation,
                use_bias=cell.use_bias,
            )
        elif type(cell) is keras.layers.GRUCell:
            self.cell = GRUCell(
                cell.units,
                activation=cell.activation,
                recurrent_activation=cell.recurrent_activation,
                use_bias=cell.use_bias,
                reset_after=cell.reset_after,
            )
        else:
            raise ValueError(
                f"gate_activations needs {_SUPPORTED}; got a keras.layers.RNN over "
                f"{type(cell).__name__}, whose gates it does not know."
            )
        if isinstance(self.cell, GRUCell):
            self.family = "gru"
            self.gate_names = ("update", "reset", "candidate")
            self.state_names = ("hidden",)
            self.reset_before = not self.cell.reset_after
        else:
            self.family = "lstm"
            self.gate_names = ("input", "forget", "output", "candidate")
            self.state_names = ("hidden", "cell")
        self.units = cell.units
        self.input_dim = cell.kernel.shape[0]
        self.dtype = cell.kernel.dtype

    def weights(self):
        """(kernel, recurrent kernel, input bias or None, recurrent bias or None, extra)."""
        cell, value = self.source, _value
        input_bias = recurrent_bias = None
        if cell.use_bias:
            bias = value(cell.bias)
            two_biases = isinstance(self.cell, GRUCell) and self.cell.reset_after
            input_bias, recurrent_bias = (bias[0], bias[1]) if two_biases else (bias, None)
        extra = [value(w) for w in cell.extra_weights()] if cell is self.cell else []
        return value(cell.kernel), value(cell.recurrent_kernel), input_bias, recurrent_bias, extra

    def scan(self, x, mask, states0, weights):
        """Every step over x [batch, time, features]; returns (gates, states), time-major."""
        kernel, recurrent_kernel, input_bias, recurrent_bias, extra = weights
        xz = tf.einsum("btf,fk->tbk", x, kernel)
        if input_bias is not None:
            xz = xz + input_bias
        mask = tf.transpose(mask)[:, :, tf.newaxis]

        def one_step(carry, elements):
            states, _ = carry
            xz_t, mask_t = elements
            xz_t, hz_t = self._projections(xz_t, states[0], recurrent_kernel, recurrent_bias)
            _, new_states, saved = self.cell.step(xz_t, hz_t, list(states), extra)
            new_states = [tf.where(mask_t, n, s) for n, s in zip(new_states, states)]
            return tuple(new_states), self._gates(saved)

        batch = tf.shape(x)[0]
        zeros = tf.zeros([batch, self.units], x.dtype)
        start = (tuple(states0), tuple(zeros for _ in self.gate_names))
        states, gates = tf.scan(one_step, (xz, mask), initializer=start)
        return gates, states

    def _projections(self, xz, h_prev, recurrent_kernel, recurrent_bias):
        """The (xz, hz) that make the cell's `step` compute this cell's equations."""
        if not self.reset_before:
            hz = tf.matmul(h_prev, recurrent_kernel)
            return xz, hz if recurrent_bias is None else hz + recurrent_bias
        # GRU reset_after=False: step computes phi(xz_h + r * hz_h); put (r h) U_h in xz_h.
        units = self.units
        hz_zr = tf.matmul(h_prev, recurrent_kernel[:, : 2 * units])
        zr = self.cell.gate_activations(("gate", "gate"))(xz[:, : 2 * units] + hz_zr)
        reset = zr[:, units:]
        reset_h = tf.matmul(reset * h_prev, recurrent_kernel[:, 2 * units :])
        xz = tf.concat([xz[:, : 2 * units], xz[:, 2 * units :] + reset_h], axis=-1)
        return xz, tf.concat([hz_zr, tf.zeros_like(reset_h)], axis=-1)

    def _gates(self, saved):
        """The gates in `gate_names` order, from what the cell's `step` saved."""
        cell = self.cell
        if isinstance(cell, PeepholeLSTMCell):
            ifg, output = saved[0], saved[1]
            input_, forget, candidate = tf.split(ifg, 3, axis=-1)
        elif isinstance(cell, CoupledLSTMCell):
            input_, candidate, output = tf.split(saved[0], 3, axis=-1)
            forget = 1.0 - input_
        elif isinstance(cell, LSTMCell):
            input_, forget, candidate, output = tf.split(saved[0], 4, axis=-1)
        else:  # GRUCell
            update, reset = tf.split(saved[0], 2, axis=-1)
            return update, reset, saved[1]
        return input_, forget, output, candidate


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
    count = len(equations.state_names)
    if initial_state is None:
        if getattr(layer, "stateful", False) and getattr(layer, "states", None) is not None:
            initial_state = list(layer.states)
        else:
            return [np.zeros((batch, equations.units)) for _ in range(count)]
    states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
    if len(states) != count:
        raise ValueError(
            f"{layer.name!r} takes {count} initial state tensor(s) of shape "
            f"[batch, {equations.units}]; got {len(states)}."
        )
    states = [_to_numpy(s) for s in states]
    for index, state in enumerate(states):
        if tuple(state.shape) != (batch, equations.units):
            raise ValueError(
                f"initial_state[{index}] must have shape [batch={batch}, {equations.units}]; "
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
