"""Recurrent layers for every zoo cell, on the shared fast loop of `lstm_zoo.layers.scan`.

The layer classes (`LSTM`, `PeepholeLSTM`, `CoupledLSTM`, `GRU`, `LayerNormLSTM`, ...) are made
here for every cell registered with `lstm_zoo.cells.registry.register_cell`.

Each layer is a `keras.layers.RNN` (so `stateful`, `return_state`, `initial_state`, masking,
`Bidirectional` and `.keras` saving behave exactly as for `keras.layers.LSTM`) whose
`inner_loop` hoists the input projection out of the time loop and runs `FusedScan`. A
configuration the fast loop does not cover (`unroll=True`, an activation without a known
derivative, GRU with `reset_after=False`) runs Keras's generic loop over the same cell.
"""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from lstm_zoo.cells.base import RecurrentCell
from lstm_zoo.cells.registry import on_cell_registered
from lstm_zoo.kernels import loader as kernel_loader
from lstm_zoo.kernels.recurrence import native_projection
from lstm_zoo.kernels.row_norm import native_row_norm
from lstm_zoo.layers.scan import FusedScan


@dataclasses.dataclass
class FastLoopInputs:
    """One call's arguments of `FusedScan` (see `FusedScan.__call__`)."""

    xz: tf.Tensor
    initial_states: list
    kernel: tf.Tensor
    bias: tf.Tensor | None
    extra: list
    mask: tf.Tensor | None
    dropout_mask: tf.Tensor | None


_LAYER_KWARGS = {"name", "dtype", "trainable", "activity_regularizer", "input_shape"}
_CELL_CONFIG_SKIP = {"name", "trainable", "dtype"}


class ZooRecurrent(keras.layers.RNN):
    """Base of the zoo's recurrent layers: a `keras.layers.RNN` over `cell_class`.

    Args:
        units: int. Dimensionality of the hidden state.
        return_sequences, return_state, go_backwards, stateful, unroll, zero_output_for_mask:
            as `keras.layers.LSTM` / `keras.layers.RNN`.
        fused: bool. Use the fast loop where the cell supports it (default True).
        jit_loop: bool. Compile each time loop of the fast path as one XLA unit (default True).
        **kwargs: the cell's arguments (see the cell class) and base layer arguments.
    """

    cell_class = None

    def __init__(
        self,
        units,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        fused=True,
        jit_loop=True,
        **kwargs,
    ):
        layer_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in _LAYER_KWARGS}
        cell = self.cell_class(
            units,
            name=f"{self.cell_class.__name__.lower()}",
            dtype=layer_kwargs.get("dtype"),
            trainable=layer_kwargs.get("trainable", True),
            **kwargs,
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            **layer_kwargs,
        )
        self.input_spec = keras.InputSpec(ndim=3)
        self.fused = bool(fused)
        self.jit_loop = bool(jit_loop)
        self._scan = None

    @property
    def units(self):
        return self.cell.units

    def build(self, sequences_shape, initial_state_shape=None):
        if len(sequences_shape) != 3:
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank 3 [batch, time, features]; "
                f"got shape {tuple(sequences_shape)}."
            )
        super().build(sequences_shape, initial_state_shape)
        self.input_spec = keras.InputSpec(ndim=3, axes={-1: sequences_shape[-1]})

    @property
    def uses_fast_loop(self):
        """Whether calls run the shared fast loop (else Keras's generic loop)."""
        return self.fused and not self.unroll and self.cell.supports_fused

    def call(self, sequences, initial_state=None, mask=None, training=False):
        if initial_state is not None:
            self._check_initial_state(sequences, initial_state)
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    def _check_initial_state(self, sequences, initial_state):
        states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
        expected = list(self.cell.state_size)
        if len(states) != len(expected):
            raise ValueError(
                f"{type(self).__name__} expects {len(expected)} initial state tensor(s) "
                f"of shape [batch, {self.units}]; got {len(states)}."
            )
        batch = sequences.shape[0]
        for index, (state, size) in enumerate(zip(states, expected)):
            shape = tuple(state.shape)
            if (
                len(shape) != 2
                or shape[-1] != size
                or (batch is not None and shape[0] is not None and shape[0] != batch)
            ):
                raise ValueError(
                    f"{type(self).__name__}: initial_state[{index}] must have shape "
                    f"[batch={batch}, {size}]; got {shape}."
                )

    def inner_loop(self, sequences, initial_state, mask, training=False):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if not self.uses_fast_loop:
            return super().inner_loop(sequences, initial_state, mask, training=training)
        if self._scan is None:
            self._scan = FusedScan(self.cell, jit_compile=self.jit_loop)
        native = self._scan.path_for(sequences.dtype) == "native"
        loop = self.fast_loop_inputs(sequences, initial_state, mask, training, native)
        h_seq, final_states = self._scan(
            loop.xz,
            loop.initial_states,
            loop.kernel,
            loop.bias,
            loop.extra,
            mask=loop.mask,
            dropout_mask=loop.dropout_mask,
            training=bool(training),
        )
        return self.fast_loop_outputs(h_seq, final_states, loop.mask)

    def fast_loop_inputs(self, sequences, initial_state, mask, training, native=False):
        """What `FusedScan` takes for this layer's call: the input projection of all steps
        (time-major, reversed for go_backwards), the time-major mask, the dropout masks and
        the weights as tensors. `native`: the call runs the native CPU kernel, whose library
        also does a float32 projection (`lstm_zoo.kernels.recurrence.native_projection`)."""
        cell = self.cell
        if training and 0.0 < cell.dropout < 1.0:
            sequences = sequences * cell.get_dropout_mask(sequences[:, 0, :])[:, None, :]
        dropout_mask = None
        if training and 0.0 < cell.recurrent_dropout < 1.0:
            dropout_mask = cell.get_recurrent_dropout_mask(initial_state[0])

        # One large matmul for the input projection of all steps, time-major.
        time_major = tf.transpose(sequences, [1, 0, 2])
        if native and _plain_projection(cell) and time_major.dtype == tf.float32:
            xz = _native_input_projection(cell, time_major)
        elif native and cell.native_kernel == "layer_norm_lstm":
            xz = _native_layer_norm_projection(cell, time_major)
        else:
            xz = cell.input_projection(time_major)
        if mask is not None:
            mask = tf.transpose(tf.cast(mask, tf.bool), [1, 0])
        if self.go_backwards:
            xz = tf.reverse(xz, [0])
            mask = tf.reverse(mask, [0]) if mask is not None else None
        return FastLoopInputs(
            xz=xz,
            initial_states=list(initial_state),
            kernel=cell.loop_kernel(),
            bias=cell.recurrent_bias(),
            extra=cell.extra_weight_values(),
            mask=mask,
            dropout_mask=dropout_mask,
        )

    def fast_loop_outputs(self, h_seq, final_states, mask):
        """(last_output, outputs [batch, time, units], states) as `keras.layers.RNN`'s
        `inner_loop` returns them, from the loop's time-major h_seq and the time-major mask."""
        outputs = h_seq
        if mask is not None:
            # Keras's loop outputs zeros until the first unmasked step (its "previous output"
            # starts at zero), then the carried h; zero_output_for_mask zeros every masked step.
            step_mask = mask if self.zero_output_for_mask else _seen_any(mask)
            outputs = tf.where(step_mask[:, :, None], h_seq, tf.zeros_like(h_seq))
        last_output = outputs[-1]
        return last_output, tf.transpose(outputs, [1, 0, 2]), final_states

    def get_config(self):
        config = super().get_config()
        config.pop("cell")
        cell_config = {
            k: v for k, v in self.cell.get_config().items() if k not in _CELL_CONFIG_SKIP
        }
        return {**config, **cell_config, "fused": self.fused, "jit_loop": self.jit_loop}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _seen_any(mask):
    """For a [time, batch] bool mask, True from the first True step of each sequence on."""
    return tf.cast(tf.cumsum(tf.cast(mask, tf.int32), axis=0), tf.bool)


_LAYER_CLASSES: dict[str, type] = {}


def layer_classes():
    """{layer class name: class} of every registered cell's layer."""
    return dict(_LAYER_CLASSES)


def _make_layer_class(entry):
    """The `ZooRecurrent` subclass over a registered cell, serializable as lstm_zoo>Name."""
    summary = (entry.cell_class.__doc__ or entry.description).strip().split("\n\n")[0]
    layer_class = type(
        entry.layer_name,
        (ZooRecurrent,),
        {
            "cell_class": entry.cell_class,
            "__module__": __name__,
            "__qualname__": entry.layer_name,
            "__doc__": (
                f"Recurrent layer over `{entry.cell_class.__name__}` on the shared fast loop "
                f"(registry name {entry.name!r}).\n\n    Cell: {summary}\n\n    Args: those of "
                "`ZooRecurrent` and of the cell."
            ),
        },
    )
    layer_class = keras.saving.register_keras_serializable(package="lstm_zoo")(layer_class)
    _LAYER_CLASSES[entry.layer_name] = layer_class
    globals()[entry.layer_name] = layer_class
    return layer_class


on_cell_registered(_make_layer_class)

import lstm_zoo.cells  # noqa: E402,F401  (registers the built-in cells, making their layers)


def _plain_projection(cell):
    """Whether the cell's input projection is the base class's x W + input_bias()."""
    return type(cell).input_projection is RecurrentCell.input_projection


# Where the kernel's GEMM is MKL's (AVX-512 CPUs, LSTM_ZOO_KERNEL_GEMM=mkl), up to this many
# FLOPs (2 m k n) the native projection runs, above it TensorFlow's MatMul. Measured on a
# 2-vCPU Zen 1 (benchmarks/RESULTS.md, 2026-12-07): [400, 200] x [200, 800] 2.9 ms against
# 3.8 ms; [1024, 256] x [256, 1024] 10.2 against 9.4 ms; [4096, 256] x [256, 1024] equal
# (36.9 / 36.4 ms). With the register tile the native projection runs at every size:
# interleaved on a 2-vCPU Zen 3 (stop 29), zoo_lstm inference +3 % at 64 x 64 x 256, +6 % at
# 32 x 400 x 64 and +19 % at 128 x 50 x 512, training equal, against TensorFlow's MatMul.
NATIVE_PROJECTION_MAX_FLOPS = 256e6


def _native_layer_norm_projection(cell, time_major):
    """The layer-norm LSTM's LN(x W; g_x, b_x) + b with the norm by the kernel library's row
    norm (one pass forward, one backward, where TensorFlow's ops made about ten and twenty);
    x W by the native projection (float32 on the register tile) or one 2-D TensorFlow MatMul
    (tf.matmul of a 3-D tensor would be a batched one) in the compute dtype; the norm in
    float32 (the native loop takes float32 xz in any case)."""
    kernel = tf.cast(cell.kernel, time_major.dtype)
    shape = tf.shape(time_major)
    if time_major.dtype == tf.float32 and kernel_loader.uses_tile_gemm():  # as x W + b above
        xw = tf.reshape(native_projection(time_major, kernel), [-1, tf.shape(kernel)[1]])
    else:
        xw = tf.matmul(tf.reshape(time_major, [-1, shape[-1]]), kernel)

    def f32(weight):
        return tf.cast(weight, tf.float32)

    xz = native_row_norm(
        f32(xw),
        f32(cell.kernel_norm_gamma),
        f32(cell.kernel_norm_beta),
        f32(cell.bias) if cell.use_bias else None,
        cell.norm_epsilon,
    )
    return tf.reshape(xz, tf.concat([shape[:-1], tf.shape(kernel)[1:]], axis=0))


def _native_input_projection(cell, time_major):
    """x W + input bias of `cell` by the native projection; where the kernel's GEMM is MKL's,
    only up to NATIVE_PROJECTION_MAX_FLOPS for the shapes known when tracing (a run-time
    choice, tf.cond, cost more than it saved at the small shapes), TensorFlow's MatMul above."""
    steps, batch, inputs = time_major.shape
    width = cell.kernel.shape[1]
    if None not in (steps, batch, inputs, width) and not kernel_loader.uses_tile_gemm():
        if 2.0 * steps * batch * inputs * width > NATIVE_PROJECTION_MAX_FLOPS:
            return cell.input_projection(time_major)
    bias = cell.input_bias() if cell.use_bias else None
    return native_projection(time_major, cell.kernel, bias)
