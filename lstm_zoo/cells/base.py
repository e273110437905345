"""What every zoo cell shares: Keras-style arguments, weights, dropout, config, and the
contract with the shared fast loop (`lstm_zoo.layers.scan`).

A zoo cell is a `keras.Layer` usable inside `keras.layers.RNN`. Its weights follow the Keras
layout where it has one: `kernel` [input_dim, blocks * units], `recurrent_kernel` [units,
blocks * units] and `bias` [blocks * units]. The cell's equations live in one method,
`step(xz, hz, states, extra) -> (h, new_states, saved)`, where

    xz    = input_projection(x_t)   (default x_t W + b; the fast layer computes it for all
                                     steps at once, before the time loop)
    h_in  = recurrent_inputs(states, dropout mask)     (default h_{t-1} * mask)
    hz    = h_in U + b_rec          (U = loop_kernel(); the loop does this matmul), or
    hz    = h_in                    (loop_kernel() None: `step` does its recurrent matmuls)
    extra = extra_weight_values()   (every other weight `step` reads, as tensors)

`call` (one step, what `keras.layers.RNN` runs) computes the same and calls `step`, so the
generic and the fast loop run one set of equations. For training, the fast loop takes the
backward of `step` by automatic differentiation per step (the large dU matmul stays one
matmul over all steps), unless the cell writes it by hand (`prepare_backward`,
`step_backward`, `extra_weight_gradients`; the LSTM, peephole, coupled and GRU cells do, for
speed). A new cell is one class with `@register_cell` (`lstm_zoo.cells.registry`), which makes
its layer and registry name too; `named_gates(saved)` names what `step` saved for
`lstm_zoo.inspect.gate_activations`, and `state_names` names the states.
"""

from __future__ import annotations

import numbers

import keras
from keras import activations, constraints, initializers, ops, regularizers

try:  # Keras keeps the dropout-mask mixin private; `keras.layers.RNN` tests for it.
    from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell
except ImportError:  # pragma: no cover - a future Keras that moved it
    DropoutRNNCell = object

# Activations whose derivative we can write from their output y = f(x): the fast backward pass
# needs f'(x) and keeps only y. Any other activation sends the layer to the generic loop.
_DERIVATIVE_FROM_OUTPUT = {
    "sigmoid": lambda y: y * (1.0 - y),
    "tanh": lambda y: 1.0 - ops.square(y),
    "linear": lambda y: ops.ones_like(y),
    "relu": lambda y: ops.cast(y > 0, y.dtype),
}


def activation_derivative(activation):
    """The derivative of `activation` as a function of its output, or None if unknown."""
    return _DERIVATIVE_FROM_OUTPUT.get(_name(activation))


class GateActivations:
    """Activate a run of gate blocks [B, n * units] in one contiguous op, and differentiate it.

    `kinds` names each block: "gate" blocks get `recurrent_activation` (sigma), "candidate"
    blocks get `activation` (phi). For the standard pair sigma = sigmoid, phi = tanh this is one
    tanh over the whole run, using sigmoid(x) = (1 + tanh(x / 2)) / 2; XLA compiles that to
    one vectorized loop, several times faster than activating column slices separately. The
    derivative is written from the outputs y: y (1 - y) for sigmoid, 1 - y^2 for tanh.
    """

    def __init__(self, kinds, units, activation, recurrent_activation):
        self.kinds = tuple(kinds)
        self.units = units
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.standard = _name(activation) == "tanh" and _name(recurrent_activation) == "sigmoid"

    def _per_column(self, gate_value, candidate_value, dtype):
        parts = [
            ops.full((self.units,), gate_value if kind == "gate" else candidate_value, dtype)
            for kind in self.kinds
        ]
        return ops.concatenate(parts) if len(parts) > 1 else parts[0]

    def __call__(self, z):
        if self.standard:
            scale = self._per_column(0.5, 1.0, z.dtype)
            shift = self._per_column(0.5, 0.0, z.dtype)
            return ops.tanh(z * scale) * scale + shift
        blocks = ops.split(z, len(self.kinds), axis=-1) if len(self.kinds) > 1 else [z]
        return _concat(
            [
                (self.recurrent_activation if kind == "gate" else self.activation)(block)
                for kind, block in zip(self.kinds, blocks)
            ]
        )

    def derivative(self, y):
        """dy/dz for y = self(z), from y."""
        if self.standard:  # sigmoid: y (1 - y) = y (1 - y) + 0; tanh: 1 - y^2 = 1 + y (0 - y)
            offset = self._per_column(0.0, 1.0, y.dtype)
            slope = self._per_column(1.0, 0.0, y.dtype)
            return offset + y * (slope - y)
        d_sigma = activation_derivative(self.recurrent_activation)
        d_phi = activation_derivative(self.activation)
        blocks = ops.split(y, len(self.kinds), axis=-1) if len(self.kinds) > 1 else [y]
        return _concat([(d_sigma if k == "gate" else d_phi)(b) for k, b in zip(self.kinds, blocks)])


def _concat(parts):
    return ops.concatenate(parts, axis=-1) if len(parts) > 1 else parts[0]


def _name(activation):
    name = activations.serialize(activation)
    if isinstance(name, dict):
        name = name.get("config", name.get("class_name"))
    return name if isinstance(name, str) else None


def read_value(weight):
    """A tensor holding the current value of a Keras variable (or the tensor itself)."""
    return ops.multiply(ops.convert_to_tensor(weight), 1) if hasattr(weight, "assign") else weight


def _get(module, argument, identifier):
    """`module.get(identifier)` with an error that names the argument."""
    try:
        return module.get(identifier)
    except (ValueError, TypeError) as error:
        kind = module.__name__.rsplit(".", 1)[-1]
        raise ValueError(
            f"`{argument}`: {identifier!r} is not a known Keras {kind[:-1]} ({error})"
        ) from None


def check_units(units):
    """Raise ValueError unless `units` is a positive integer."""
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(f"`units` must be a positive integer; got units={units!r}.")


class RecurrentCell(DropoutRNNCell, keras.Layer):
    """Base of every zoo cell: the `keras.layers.LSTMCell` arguments and weight layout.

    Subclasses set `gate_names` (the blocks of `kernel`, in order) and `state_names`, and write
    `step` (and optionally its backward). Arguments are those of `keras.layers.LSTMCell`.

    Args:
        units: int. Dimensionality of the hidden state.
        activation: Activation of the candidate and of the output (default tanh).
        recurrent_activation: Activation of the gates (default sigmoid).
        use_bias: bool. Whether the cell has a bias vector.
        kernel_initializer, recurrent_initializer, bias_initializer: Initializers.
        unit_forget_bias: bool. Add 1 to the forget-gate bias at initialization (cells with a
            forget gate only).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: Constraints.
        dropout: float in [0, 1). Fraction of the inputs dropped (one mask for all steps).
        recurrent_dropout: float in [0, 1). Fraction of h_{t-1} dropped before `h U`.
        seed: int. Seed of the dropout masks.
    """

    gate_names: tuple[str, ...] = ()
    state_names: tuple[str, ...] = ("hidden",)
    has_forget_gate = False

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=None,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        check_units(units)
        for arg, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            # 1 is refused: the loops (as Keras's) apply dropout only for 0 < rate < 1.
            if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
                raise ValueError(f"`{arg}` must be a number in [0, 1); got {arg}={rate!r}.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"`seed` must be an int or None; got seed={seed!r}.")
        super().__init__(**kwargs)
        self.units = units
        self.activation = _get(activations, "activation", activation)
        self.recurrent_activation = _get(activations, "recurrent_activation", recurrent_activation)
        self.use_bias = use_bias
        self.kernel_initializer = _get(initializers, "kernel_initializer", kernel_initializer)
        self.recurrent_initializer = _get(
            initializers, "recurrent_initializer", recurrent_initializer
        )
        self.bias_initializer = _get(initializers, "bias_initializer", bias_initializer)
        if unit_forget_bias is None:
            unit_forget_bias = self.has_forget_gate
        elif unit_forget_bias and not self.has_forget_gate:
            raise ValueError(
                f"{type(self).__name__} has no forget gate, so `unit_forget_bias=True` has "
                "nothing to act on; leave it out."
            )
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = _get(regularizers, "kernel_regularizer", kernel_regularizer)
        self.recurrent_regularizer = _get(
            regularizers, "recurrent_regularizer", recurrent_regularizer
        )
        self.bias_regularizer = _get(regularizers, "bias_regularizer", bias_regularizer)
        self.kernel_constraint = _get(constraints, "kernel_constraint", kernel_constraint)
        self.recurrent_constraint = _get(constraints, "recurrent_constraint", recurrent_constraint)
        self.bias_constraint = _get(constraints, "bias_constraint", bias_constraint)
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.state_size = [units]
        self.output_size = units

    # ---------------------------------------------------------------- weights
    @property
    def blocks(self):
        return len(self.gate_names)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        if input_dim is None:
            raise ValueError(
                f"{type(self).__name__} needs a known feature size (last input dimension); "
                f"got input shape {tuple(input_shape)}."
            )
        width = self.blocks * self.units
        self.kernel = self.add_weight(
            shape=(input_dim, width),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, width),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=self.bias_shape(),
                name="bias",
                initializer=self._bias_initializer_with_forget_gate(),
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.build_extra_weights()
        self.built = True

    def bias_shape(self):
        return (self.blocks * self.units,)

    def build_extra_weights(self):
        """Hook for weights beyond kernel/recurrent_kernel/bias (peepholes)."""

    def extra_weights(self):
        """The extra weights `step` reads (peepholes), in `extra_weight_gradients` order."""
        return []

    def _bias_initializer_with_forget_gate(self):
        if not (self.has_forget_gate and self.unit_forget_bias):
            return self.bias_initializer
        forget = self.gate_names.index("f")
        units, blocks, base = self.units, self.blocks, self.bias_initializer

        def initializer(shape, dtype=None):
            parts = [base((units,), dtype=dtype) for _ in range(blocks)]
            parts[forget] = ops.ones((units,), dtype=dtype)
            return ops.concatenate(parts)

        return initializer

    # ---------------------------------------------------------------- one step
    def input_projection(self, inputs):
        """xz = x W + b for inputs of any leading shape."""
        xz = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            xz = xz + self.input_bias()
        return xz

    def input_bias(self):
        """The bias added to x W (all of `bias`, except for GRU with reset_after)."""
        return self.bias

    def recurrent_bias(self):
        """A bias added to h U inside the loop (GRU with reset_after), or None."""
        return None

    def call(self, inputs, states, training=False):
        states = list(states) if isinstance(states, (list, tuple)) else [states]
        h_prev = states[0]
        if training and 0.0 < self.dropout < 1.0:
            inputs = inputs * self.get_dropout_mask(inputs)
        mask = None
        if training and 0.0 < self.recurrent_dropout < 1.0:
            mask = self.get_recurrent_dropout_mask(h_prev)
        xz = self.input_projection(inputs)
        hz = self.recurrent_projection(self.recurrent_inputs(states, mask), self.loop_kernel())
        h, new_states, _ = self.step(xz, hz, states, self.extra_weight_values())
        return h, new_states

    def recurrent_inputs(self, states, dropout_mask):
        """h_in: what the recurrent matmuls read, h_{t-1} times the recurrent dropout mask
        (any leading shape: the loop also calls it on states stacked over time)."""
        h = states[0]
        return h if dropout_mask is None else h * dropout_mask

    def loop_kernel(self):
        """The recurrent kernel U the loop multiplies h_in by (a tensor), or None when
        `step` does its own recurrent matmuls and takes hz = h_in."""
        return read_value(self.recurrent_kernel)

    def recurrent_projection(self, h_in, kernel):
        """hz = h_in U + b_rec, or h_in itself when `kernel` is None."""
        if kernel is None:
            return h_in
        hz = ops.matmul(h_in, kernel)
        return hz if self.recurrent_bias() is None else hz + self.recurrent_bias()

    def named_gates(self, saved):
        """The gates of one step by name ({name: [batch, units]}), from what `step` saved;
        read by `lstm_zoo.inspect.gate_activations`."""
        return {}

    def extra_weight_values(self):
        """The extra weights as tensors (read once, so a custom gradient sees no variables)."""
        return [read_value(w) for w in self.extra_weights()]

    def step(self, xz, hz, states, extra):
        """The cell's equations. Returns (h_t, [states_t], saved tensors for the backward)."""
        raise NotImplementedError

    def prepare_backward(self, saved, previous_states, extra):
        """Per-step factors for `step_backward`, computed for all steps at once.

        Args:
            saved: what `step` saved, each stacked over time ([time, batch, ...]).
            previous_states: the states before each step, stacked over time.
            extra: the extra weights.

        Returns:
            A list of [time, ...] tensors; `step_backward` receives their slices at step t.
        """
        raise NotImplementedError

    def step_backward(self, dh, dstates, factors):
        """The derivative of `step`, linear in the incoming gradients (for the fast loop).

        Args:
            dh: gradient reaching h_t (from the outputs and from step t + 1).
            dstates: gradients reaching the other states (c_t), in the order of states[1:].
            factors: this step's slices of `prepare_backward`'s tensors.

        Returns:
            (dxz, dhz, dstates_prev): gradients of xz and hz (may be the same tensor) and the
            direct gradients of each state before the step (None for zero); the loop adds
            dhz U^T to dh_{t-1}.
        """
        raise NotImplementedError

    def extra_weight_gradients(self, dhz, saved, previous_states, extra):
        """Gradients of `extra_weights()` from dhz of all steps ([time, batch, ...]), each
        summed over time only: [batch, *weight shape] (the loop sums the batch rows)."""
        return []

    @property
    def supports_fused(self):
        """Whether the fast loop runs this configuration (else Keras's generic loop runs)."""
        return True

    @property
    def hand_written_backward(self):
        """Whether the fast loop uses the cell's `step_backward` (else autodiff of `step`):
        the cell writes one and its activations have a derivative known from their output."""
        return (
            type(self).prepare_backward is not RecurrentCell.prepare_backward
            and activation_derivative(self.activation) is not None
            and activation_derivative(self.recurrent_activation) is not None
        )

    @property
    def native_kernel(self):
        """The name of this cell's loop in the native CPU kernel (`lstm_zoo.kernels`: 'lstm',
        'peephole', 'coupled', 'gru', 'mut1', 'mut2', 'mut3', 'layer_norm_lstm', 'clockwork',
        'depth_gated' or 'mogrifier'), or None when the kernel does not cover this cell or
        configuration (the XLA loop then runs it)."""
        return None

    @property
    def standard_activations(self):
        """Whether activation is tanh and recurrent_activation sigmoid."""
        return _name(self.activation) == "tanh" and _name(self.recurrent_activation) == "sigmoid"

    @property
    def fuses_directions(self):
        """Whether a fused Bidirectional can run two of these in one loop: the loop does the
        recurrent matmul and every extra weight is elementwise (rank <= 1)."""
        return self.loop_kernel() is not None and all(
            len(w.shape) <= 1 for w in self.extra_weight_values()
        )

    def gate_activations(self, kinds):
        """A `GateActivations` over blocks of this cell (built once, cached by kinds)."""
        cache = self.__dict__.setdefault("_gate_activation_cache", {})
        if kinds not in cache:
            cache[kinds] = GateActivations(
                kinds, self.units, self.activation, self.recurrent_activation
            )
        return cache[kinds]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in self.state_size]

    # ---------------------------------------------------------------- config
    def get_config(self):
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        if self.has_forget_gate:
            config["unit_forget_bias"] = self.unit_forget_bias
        return {**super().get_config(), **config}
