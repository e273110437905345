"""A drop-in `keras.layers.Bidirectional` that runs both directions of a zoo layer in one loop.

`keras.layers.Bidirectional` runs its forward and backward layers one after the other: two time
loops, each with a small [batch, units] x [units, k units] matmul per step. Over a zoo layer on
the fast loop this wrapper runs both directions in one `FusedScan(directions=2)`: per step one
batched matmul [2, batch, units] x [2, units, k units] and one pass of the cell's elementwise
step over the 2 * batch rows, each direction with its own weights, mask and dropout masks, so
the per-step overhead (and the number of compiled programs) is paid once, not twice.

Everything else is `keras.layers.Bidirectional`'s: the same weights (forward then backward),
config, merge modes, `return_state` (forward states then backward states), masks and `.keras`
saving. The backward direction reads the reversed sequence and reversed mask, as the wrapped
layer with `go_backwards=True` does, so the outputs equal those of Keras's wrapper over the
same layers. Anything the fused loop does not cover (layers that are not zoo layers or do not
use the fast loop, `stateful` layers, differing forward and backward configurations) runs
Keras's two-loop path.

Measured on CPU (2 cores, TensorFlow 2.21, `benchmarks/RESULTS.md`), the fused loop is *slower*
than Keras's two loops: TensorFlow already runs the two directions' loops at the same time on
two cores, and XLA's CPU batched matmul is slow (training step of a bidirectional zoo_lstm,
batch 32, 64 units, 64 steps: 40 ms fused, 16 ms as two loops; batch 64, 256 units: 491 vs 290
ms). So `fuse_directions="auto"` (the default) fuses only where a GPU or TPU is visible, where
one loop halves the kernel launches per step (not measured here: no accelerator was at hand);
`True` fuses everywhere, `False` never.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from lstm_zoo.layers.loop_functions import cell_identity
from lstm_zoo.layers.recurrent import ZooRecurrent
from lstm_zoo.layers.scan import FusedScan


@keras.saving.register_keras_serializable(package="lstm_zoo")
class Bidirectional(keras.layers.Bidirectional):
    """`keras.layers.Bidirectional` with both directions of a zoo layer in one fast loop.

    Args: those of `keras.layers.Bidirectional` (layer, merge_mode, weights,
    backward_layer), and
        fuse_directions: "auto" (default: fuse where a GPU or TPU is visible), True or False.

    Example:

    >>> layer = Bidirectional(
    ...     lstm_zoo.recurrent_layer("peephole", 8, return_sequences=True), fuse_directions=True
    ... )
    >>> layer(ops.ones((2, 5, 3))).shape
    (2, 5, 16)
    """

    def __init__(self, layer, *args, fuse_directions="auto", **kwargs):
        if fuse_directions not in ("auto", True, False):
            raise ValueError(
                "`fuse_directions` must be 'auto', True or False; got "
                f"fuse_directions={fuse_directions!r}."
            )
        super().__init__(layer, *args, **kwargs)
        self.fuse_directions = fuse_directions
        self._fused_scan = None

    def get_config(self):
        return {**super().get_config(), "fuse_directions": self.fuse_directions}

    def _fusing_pays(self):
        if self.fuse_directions == "auto":
            return bool(
                tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU")
            )
        return self.fuse_directions

    @property
    def uses_fused_loop(self):
        """Whether calls run both directions in one fast loop (else Keras's two loops)."""
        forward, backward = self.forward_layer, self.backward_layer
        if not self._fusing_pays():
            return False
        if not (isinstance(forward, ZooRecurrent) and type(forward) is type(backward)):
            return False
        if not (forward.uses_fast_loop and backward.uses_fast_loop):
            return False
        if not forward.cell.fuses_directions:  # its step does matmuls with its own weights
            return False
        if forward.stateful or backward.stateful or forward.jit_loop != backward.jit_loop:
            return False
        if forward.go_backwards == backward.go_backwards:
            return False
        return cell_identity(forward.cell) == cell_identity(backward.cell)

    def call(self, sequences, initial_state=None, mask=None, training=None):
        if not self.uses_fused_loop:
            return super().call(
                sequences, initial_state=initial_state, mask=mask, training=training
            )
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        forward, backward = self.forward_layer, self.backward_layer
        forward_state, backward_state = self._initial_states(sequences, initial_state)
        first_step = sequences[:, 0, :]
        forward._maybe_config_dropout_masks(forward.cell, first_step, forward_state)
        backward._maybe_config_dropout_masks(backward.cell, first_step, backward_state)
        loops = [
            layer.fast_loop_inputs(sequences, states, mask, training)
            for layer, states in ((forward, forward_state), (backward, backward_state))
        ]
        if self._fused_scan is None:
            self._fused_scan = FusedScan(forward.cell, jit_compile=forward.jit_loop, directions=2)
        h_seq, finals = self._fused_scan(
            tf.concat([loop.xz for loop in loops], axis=1),
            [tf.concat(pair, axis=0) for pair in zip(*(loop.initial_states for loop in loops))],
            tf.stack([loop.kernel for loop in loops]),
            _stack_or_none([loop.bias for loop in loops]),
            [tf.stack(pair) for pair in zip(*(loop.extra for loop in loops))],
            mask=_concat_rows([loop.mask for loop in loops], axis=1),
            dropout_mask=_concat_rows([loop.dropout_mask for loop in loops], axis=0),
            training=bool(training),
        )
        forward._maybe_reset_dropout_masks(forward.cell)
        backward._maybe_reset_dropout_masks(backward.cell)

        h_forward, h_backward = tf.split(h_seq, 2, axis=1)
        finals = [tf.split(state, 2, axis=0) for state in finals]
        y, states_forward = self._layer_result(
            forward, h_forward, [f[0] for f in finals], loops[0].mask
        )
        y_rev, states_backward = self._layer_result(
            backward, h_backward, [f[1] for f in finals], loops[1].mask
        )
        if self.return_sequences:
            y_rev = ops.flip(y_rev, axis=1)
        output = _merge(self.merge_mode, y, y_rev)
        if self.return_state:
            states = tuple(states_forward + states_backward)
            return output + states if self.merge_mode is None else (output,) + states
        return output

    def _initial_states(self, sequences, initial_state):
        forward, backward = self.forward_layer, self.backward_layer
        if initial_state is None:
            batch = ops.shape(sequences)[0]
            states = forward.get_initial_state(batch), backward.get_initial_state(batch)
        else:
            half = len(initial_state) // 2
            states = list(initial_state[:half]), list(initial_state[half:])
            for layer, layer_states in zip((forward, backward), states):
                layer._check_initial_state(sequences, layer_states)
        dtype = forward.cell.compute_dtype
        return tuple(
            [ops.convert_to_tensor(s, dtype=dtype) for s in layer_states] for layer_states in states
        )

    def _layer_result(self, layer, h_seq, final_states, mask):
        """What `layer` itself would return (its output, its states), as keras.layers.RNN."""
        last_output, outputs, states = layer.fast_loop_outputs(h_seq, final_states, mask)
        output = outputs if layer.return_sequences else last_output
        dtype = self.compute_dtype
        return ops.cast(output, dtype), [ops.cast(s, dtype) for s in states]


def _stack_or_none(values):
    return None if values[0] is None else tf.stack(values)


def _concat_rows(values, axis):
    """Concatenate the directions' masks along the rows axis; a missing one is all-ones."""
    if all(v is None for v in values):
        return None
    like = next(v for v in values if v is not None)
    values = [tf.ones_like(like) if v is None else v for v in values]
    return tf.concat(values, axis=axis)


def _merge(merge_mode, y, y_rev):
    if merge_mode == "concat":
        return ops.concatenate([y, y_rev], axis=-1)
    if merge_mode == "sum":
        return y + y_rev
    if merge_mode == "ave":
        return (y + y_rev) / 2
    if merge_mode == "mul":
        return y * y_rev
    if merge_mode is None:
        return (y, y_rev)
    raise ValueError(
        f"Unrecognized value for `merge_mode`: {merge_mode!r}; expected one of "
        '"concat", "sum", "ave", "mul" or None.'
    )
