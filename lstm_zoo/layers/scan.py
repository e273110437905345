"""The one fast recurrent loop that runs every zoo cell, with a hand-written backward pass.

Given the input projection of all steps at once, xz[t] = x_t W + b (one large matmul done by
the caller), the forward loop does per step only the recurrent matmul hz = h_{t-1} U (+ b_rec)
and the cell's elementwise `step`. The backward first runs the cell's `prepare_backward` over
all steps at once (the factors of the gate derivatives that do not depend on the incoming
gradient), then loops over the cell's short `step_backward` and one matmul
dh_{t-1} += dhz_t U^T. The weight gradients are one large matmul each over all steps instead
of one small matmul per step:

    dU     = [h_{-1} .. h_{T-2}]^T [dhz_0 .. dhz_{T-1}]        (rows: batch x time)
    db_rec = sum_t,b dhz_t
    dxz    = [dxz_0 .. dxz_{T-1}]   -> autodiff turns it into dW = X^T dxz, dX = dxz W^T

Masked steps carry every state through unchanged (as `keras.layers.RNN` does); their gradient
flows straight to the previous state.

A cell without a hand-written backward (`cell.hand_written_backward` False) gets the backward
of its `step` by automatic differentiation, one step at a time inside the same backward loop:
step t is recomputed from the stored states s_{t-1} and its vector-Jacobian product taken,

    (dxz_t, dhz_t, ds_{t-1}, dextra_t) = VJP(step at t)(ds_t)

(the path h_{t-1} -> h_in -> hz = h_in U included), while dU and db_rec stay the large matmul
and sum above over the stored dhz. Extra-weight gradients are summed inside the loop. A cell
whose `loop_kernel()` is None does its own recurrent matmuls in `step` (hz = h_in), which its
VJP covers; it has no dU term.

Compiled loops (`jit_compile=True`, one XLA computation each, which fuses the per-step
elementwise ops around the matmul) are built for a few *capacities* of the time and batch axes
(`lstm_zoo.layers.capacity`), not for every shape: the inputs are padded to the capacity and
the real number of steps is a runtime trip count, so no padded step runs, and a layer fed any
lengths compiles a bounded number of programs.

Several directions (a fused bidirectional layer) run in one loop: the rows of every [time,
rows, ...] tensor are direction-major (row d * batch + b), direction d has its own recurrent
kernel U_d ([directions, units, k units]) and per-step matmul is one batched matmul
[directions, batch, units] x [directions, units, k units].
"""

from __future__ import annotations

import functools

import tensorflow as tf

from lstm_zoo.kernels.loader import in_xla_or_saving
from lstm_zoo.kernels.recurrence import eligible, native_recurrence
from lstm_zoo.layers.capacity import batch_capacity, chunk_limit, chunk_rows, time_capacity
from lstm_zoo.layers.loop_functions import ShapeRelaxedFunction, loop_identity


def _read(value):
    """A tensor of `value`'s current value (a variable's read), or None."""
    return None if value is None else tf.identity(value)


def _stop_gradient(value):
    return None if value is None else tf.stop_gradient(value)


def _incoming_gradients(d_states, d_h_seq, mask, t):
    """The gradients reaching step t's new states (the output's added to h), split by the
    mask: (d_new, what the step's VJP receives; d_keep, what a masked row carries straight to
    the previous states, or None without a mask)."""
    d_states = list(d_states)
    d_states[0] = d_states[0] + tf.gather(d_h_seq, t)
    if mask is None:
        return d_states, None
    mask_t = tf.gather(mask, t)
    d_new = [tf.where(mask_t, d, tf.zeros_like(d)) for d in d_states]
    d_keep = [tf.where(mask_t, tf.zeros_like(d), d) for d in d_states]
    return d_new, d_keep


def _stack_previous(initial, stacked):
    """[s_{-1}, s_0, ..., s_{T-2}] from the initial state and the stacked states s_0..s_{T-1}."""
    return tf.concat([initial[tf.newaxis], stacked[:-1]], axis=0)


def _chunks_apply():
    """Whether a call traced now may split its batch into chunks: not inside one XLA program
    (which compiles its every shape anyway), and not while a SavedModel is written (the
    chunked branch doubled the export time of the task models; a served model keeps the
    batch capacities)."""
    return in_xla_or_saving() is None


# The batch-row axis of each top-level argument and output of the compiled loops (`_run`).
_SUMMED = "summed"
_FORWARD_ROWS = (1, None, None, 0, None, 1, 0, None) + (1, 1, 0)
_BACKWARD_ROWS = (1, 0, 1, None, None, 0, None, 1, 1, 1, 0, None) + (1, 1, 0)


class _Padding:
    """Pads [time, rows, ...] and [rows, ...] tensors to the loop's capacity and back.

    rows = directions * batch (direction-major); only the batch part of rows is padded.
    Without a compiled loop nothing is padded.
    """

    def __init__(self, steps, batch, directions, enabled, static_batch=None):
        self.steps, self.batch, self.directions = steps, batch, directions
        self.enabled = enabled
        # The number of chunks as a Python int where the trace knows the batch size (a
        # graph then holds only the path it runs), else None (decided at run time).
        self.static_chunks = None
        if enabled:
            self.time_capacity = time_capacity(steps)
            limit = chunk_limit()
            self.batch_capacity = batch_capacity(batch, limit)
            self.chunk_rows = chunk_rows(batch, limit)
            self.chunks = self.batch_capacity // self.chunk_rows
            self.limit = limit  # a chunk's rows wherever there are several chunks
            if static_batch is not None:
                self.static_chunks = max(1, -(-static_batch // limit))

    def to_chunks(self, x, axis, shapes):
        """A padded tensor whose rows are on `axis` -> [chunks, ...] of `chunk_rows` batch rows
        each (of every direction: [..., directions * chunk rows, ...]). For a batch of several
        chunks only (a chunk is then `limit` rows). `shapes`: a dict that shares the target
        shapes between the tensors of one graph with the same layout (each op added to a
        Keras train step's graph costs 0.5-1 ms to create)."""
        split, perm, merged = self._chunk_layout(x, axis, shapes)
        return tf.reshape(tf.transpose(tf.reshape(x, split), perm), merged)

    def from_chunks(self, x, axis):
        """The inverse of `to_chunks`: [chunks, ...] (rows on axis + 1) -> rows on `axis`."""
        shape = tf.shape(x)
        split = [shape[: axis + 1], [self.directions, self.chunk_rows], shape[axis + 2 :]]
        x = tf.reshape(x, tf.concat(split, 0))  # [chunks, ..., directions, chunk rows, ...]
        rank = x.shape.rank
        x = tf.transpose(x, [*range(1, axis + 2), 0, *range(axis + 2, rank)])
        return tf.reshape(x, tf.concat([shape[1 : axis + 1], [-1], shape[axis + 2 :]], 0))

    def _chunk_layout(self, x, axis, shapes):
        """(split shape, transpose permutation, merged shape) that move the chunks of the rows
        on `axis` to the front. Tensors of the same rank, row axis and known trailing
        dimensions share them; an unknown leading dimension (the time capacity) is read from
        the first such tensor, and a tensor whose size then differs fails in the reshape (the
        chunk count is never inferred)."""
        dims = x.shape.as_list()
        trail_known = None not in dims[axis + 1 :]
        key = (axis, tuple(dims)) if trail_known else (axis, id(x))
        if key in shapes:
            return shapes[key]
        runtime = tf.shape(x) if None in dims else None
        known = [d if d is not None else runtime[i] for i, d in enumerate(dims)]
        lead, trail = known[:axis], known[axis + 1 :]
        split = [*lead, self.directions, self.chunks, self.limit, *trail]
        perm = [axis + 1, *range(axis + 1), *range(axis + 2, len(split))]
        merged = [self.chunks, *lead, self.directions * self.limit, *trail]
        shapes[key] = (tf.stack(split), perm, tf.stack(merged))
        return shapes[key]

    def _split_rows(self, x, lead):
        shape = tf.shape(x)
        return tf.reshape(x, tf.concat([shape[:lead], [self.directions, -1], shape[lead + 1 :]], 0))

    def _merge_rows(self, x, lead):
        shape = tf.shape(x)
        merged = tf.concat([shape[:lead], [-1], shape[lead + 2 :]], 0)
        return tf.reshape(x, merged)

    def rows(self, x, value=0):
        """[rows, ...] -> [directions * batch capacity, ...]."""
        if not self.enabled or x is None:
            return x
        x = self._split_rows(x, 0)
        extra = [[0, 0]] * (x.shape.rank - 2)
        pads = [[0, 0], [0, self.batch_capacity - self.batch], *extra]
        return self._merge_rows(tf.pad(x, pads, constant_values=value), 0)

    def sequence(self, x, value=0):
        """[time, rows, ...] -> [time capacity, directions * batch capacity, ...]."""
        if not self.enabled or x is None:
            return x
        x = self._split_rows(x, 1)
        extra = [[0, 0]] * (x.shape.rank - 3)
        pads = [
            [0, self.time_capacity - self.steps],
            [0, 0],
            [0, self.batch_capacity - self.batch],
            *extra,
        ]
        return self._merge_rows(tf.pad(x, pads, constant_values=value), 1)

    def unpad_rows(self, x):
        if not self.enabled or x is None:
            return x
        return self._merge_rows(self._split_rows(x, 0)[:, : self.batch], 0)

    def unpad_sequence(self, x):
        if not self.enabled or x is None:
            return x
        return self._merge_rows(self._split_rows(x, 1)[: self.steps, :, : self.batch], 1)


class FusedScan:
    """Forward and backward time loops for one cell (built once per layer, reused per call).

    Args:
        cell: a `lstm_zoo.cells.RecurrentCell` whose `supports_fused` is True.
        jit_compile: bool. Compile each time loop as one XLA computation (for a few capacity
            buckets of the time and batch axes).
        directions: int. Independent recurrences run side by side in one loop (2 for a fused
            bidirectional layer), each with its own weights.
        bucketed: bool. Pad compiled loops to the capacity buckets (default). False compiles
            one program per exact shape (the reference the bucketed loop is tested against).
        use_native: bool. Run the native CPU kernel where it applies (`lstm_zoo.kernels`;
            default). False always runs the XLA (or, without jit_compile, TF) loop.
    """

    def __init__(self, cell, jit_compile=True, directions=1, bucketed=True, use_native=True):
        self.cell = cell
        self.use_native = bool(use_native)
        self.last_path = None
        self.jit_compile = jit_compile
        self.directions = int(directions)
        self.bucketed = bool(bucketed)
        identity = loop_identity(
            cell, jit_compile=bool(jit_compile), directions=self.directions, bucketed=self.bucketed
        )

        def loop_function(fn, name):
            return ShapeRelaxedFunction(fn, jit_compile, name, identity=(identity, name))

        self._forward = loop_function(self._forward_loop, "forward_loop")
        self._forward_inference = loop_function(
            functools.partial(self._forward_loop, for_backward=False), "inference_loop"
        )
        self._backward = loop_function(self._backward_loop, "backward_loop")
        self._autodiff_backward = loop_function(
            self._autodiff_backward_loop, "autodiff_backward_loop"
        )

    # ------------------------------------------------------------------ public
    def path_for(self, dtype):
        """'native' when a call traced now with this compute dtype runs the native CPU kernel
        (`lstm_zoo.kernels`), else 'xla' (the reason: `native_reason`)."""
        if not self.use_native:
            return "xla"
        return "xla" if eligible(self.cell, dtype, self.directions) else "native"

    def native_reason(self, dtype):
        """Why a call traced now would not run natively (None when it would)."""
        if not self.use_native:
            return "use_native=False"
        return eligible(self.cell, dtype, self.directions)

    def __call__(
        self, xz, initial_states, kernel, bias, extra, mask=None, dropout_mask=None, training=True
    ):
        """Run the recurrence.

        Args:
            xz: [time, rows, blocks * units] input projections (time-major); rows =
                directions * batch, direction-major.
            initial_states: list of [rows, units] tensors, h first.
            kernel: recurrent kernel U: [units, blocks * units], or [directions, units,
                blocks * units] for several directions; None for a cell that does its own
                recurrent matmuls (`step` then receives hz = h_in).
            bias: recurrent bias added to h U ([blocks * units], or [directions, ...]), or None.
            extra: list of the cell's extra weights (peepholes), as tensors (each with a
                leading directions axis for several directions).
            mask: [time, rows] bool, or None. False steps carry the state through.
            dropout_mask: [rows, units] recurrent dropout mask applied to h_{t-1}, or None.
            training: bool. False runs a forward loop that stores only h and the final states
                (measured 30% faster); a gradient of such a call is still exact: it first
                recomputes the forward loop that stores what the backward needs.

        Returns:
            (h_seq, final_states): h_t of every step ([time, rows, units]; at a masked step
            the carried h_{t-1}) and the states after the last step.
        """
        # Variables (a cell's extra_weight_values may hand them over as they are) become
        # tensors here: inside the custom gradient a variable read would be a hidden input.
        kernel, bias = _read(kernel), _read(bias)
        extra, initial_states = [_read(w) for w in extra], [_read(s) for s in initial_states]
        self.last_path = self.path_for(xz.dtype)
        if self.last_path == "native":
            return native_recurrence(
                self.cell, xz, initial_states, kernel, bias, extra, mask, dropout_mask, training
            )
        n_states, n_extra = len(initial_states), len(extra)
        has_bias, has_kernel = bias is not None, kernel is not None
        steps = tf.shape(xz)[0]
        batch = tf.shape(xz)[1] // self.directions
        static_rows = xz.shape[1]
        padding = _Padding(
            steps,
            batch,
            self.directions,
            enabled=self.jit_compile and self.bucketed,
            static_batch=None if static_rows is None else static_rows // self.directions,
        )
        if mask is not None:
            mask = padding.sequence(tf.cast(mask, tf.int8)[:, :, tf.newaxis]) > 0
        # the mask is a constant (Keras derives it from ones_like(h0), which a tape may watch)
        dropout_p = padding.rows(_stop_gradient(dropout_mask))

        @tf.custom_gradient
        def recurrence(xz, *args):
            args = list(args)
            kernel = args.pop(0) if has_kernel else None
            states0 = args[:n_states]
            weights = args[n_states : n_states + n_extra]
            rec_bias = args[-1] if has_bias else None
            # The loops are differentiated by hand: hide their inputs from any active tape.
            xz, kernel, rec_bias, states0, weights = tf.nest.map_structure(
                _stop_gradient, (xz, kernel, rec_bias, states0, weights)
            )
            padded = (
                padding.sequence(xz),
                kernel,
                rec_bias,
                [padding.rows(s) for s in states0],
                weights,
            )
            forward = self._forward if training else self._forward_inference
            seqs, saved, finals = self._run(
                forward, padding, (*padded, mask, dropout_p, steps), _FORWARD_ROWS
            )
            h_seq = padding.unpad_sequence(seqs[0])
            finals = [padding.unpad_rows(f) for f in finals]

            def grad(d_h_seq, *d_finals):
                if training:
                    seqs_, saved_ = seqs, saved
                else:  # recompute the loop that stores what the backward needs
                    seqs_, saved_, _ = self._run(
                        self._forward, padding, (*padded, mask, dropout_p, steps), _FORWARD_ROWS
                    )
                return self._gradients(
                    d_h_seq, d_finals, padded, states0, seqs_, saved_, mask, dropout_p, padding
                )

            return (h_seq, *finals), grad

        args = [kernel] if has_kernel else []
        args += [*initial_states, *extra] + ([bias] if has_bias else [])
        outputs = recurrence(xz, *args)
        return outputs[0], list(outputs[1:])

    def _gradients(self, d_h_seq, d_finals, padded, states0, seqs, saved, mask, dropout_p, padding):
        """Gradients of every input of the recurrence, given the upstream gradients."""
        xz_p, kernel, rec_bias, states0_p, weights = padded
        if d_h_seq is None:
            d_h_seq = tf.zeros_like(seqs[0])
        else:
            d_h_seq = padding.sequence(d_h_seq)
        d_finals = [
            tf.zeros_like(s0) if d is None else padding.rows(d)
            for d, s0 in zip(d_finals, states0_p)
        ]
        backward = self._backward if self.cell.hand_written_backward else self._autodiff_backward
        args = (d_h_seq, d_finals, xz_p, kernel, rec_bias, states0_p, weights, seqs, saved)
        args += (mask, dropout_p, padding.steps)
        # extra-weight gradients: per row, except the autodiff loop's of a single direction
        summed_extra = not self.cell.hand_written_backward and self.directions == 1
        rows = _BACKWARD_ROWS + (_SUMMED if summed_extra else 0,)
        d_xz, d_hz, d_states0, d_extra = self._run(backward, padding, args, rows)
        d_hz = padding.unpad_sequence(d_hz) if d_hz is not None else None
        d_xz = padding.unpad_sequence(d_xz) if d_xz is not None else d_hz
        d_states0 = [padding.unpad_rows(d) for d in d_states0]
        grads = [d_xz]
        if kernel is not None:
            prev_states = [
                _stack_previous(s0, padding.unpad_sequence(s)) for s0, s in zip(states0, seqs)
            ]
            dropout = padding.unpad_rows(dropout_p) if dropout_p is not None else None
            prev_h = self.cell.recurrent_inputs(prev_states, dropout)
            grads.append(self._kernel_gradient(prev_h, d_hz, kernel))
        grads += d_states0
        grads += [self._per_direction_sum(d, w) for d, w in zip(d_extra, weights)]
        if rec_bias is not None:
            grads.append(self._per_direction_sum(tf.reduce_sum(d_hz, axis=0), rec_bias))
        return grads

    def _run(self, loop, padding, args, rows):
        """loop(*args) on padded inputs; a batch of several chunks (`capacity.chunk_rows`) runs
        chunk by chunk through the one program compiled for a chunk.

        `rows` gives, for the top-level arguments and then the top-level outputs, the axis of
        their batch rows: None for an argument shared by all rows (weights, the step count),
        `_SUMMED` for an output summed over the rows (the chunks' values are added).
        """
        if not padding.enabled or padding.static_chunks == 1 or not _chunks_apply():
            return loop(*args)
        arg_rows, out_rows = rows[: len(args)], rows[len(args) :]
        leaves = [
            (leaf, axis) for arg, axis in zip(args, arg_rows) for leaf in tf.nest.flatten(arg)
        ]
        dtypes = loop.output_dtypes(*args)
        out_axes = [
            axis
            for out, axis in zip(dtypes, out_rows)
            for d in tf.nest.flatten(out)
            if d is not None
        ]

        def present(outputs):
            return [o for o in tf.nest.flatten(outputs) if o is not None]

        def whole():
            return present(loop(*args))

        def by_chunks():
            shapes = {}
            chunked = [
                padding.to_chunks(t, a, shapes)
                for t, a in leaves
                if a is not None and t is not None
            ]

            def one_chunk(chunk):
                chunk = iter(chunk)
                rebuilt = [t if (a is None or t is None) else next(chunk) for t, a in leaves]
                return present(loop(*tf.nest.pack_sequence_as(args, rebuilt)))

            signature = [tf.TensorSpec(None, d) for d in present(dtypes)]
            stacked = tf.map_fn(one_chunk, chunked, fn_output_signature=signature)
            return [
                tf.reduce_sum(o, axis=0) if a is _SUMMED else padding.from_chunks(o, a)
                for o, a in zip(stacked, out_axes)
            ]

        if padding.static_chunks is None:
            flat = tf.cond(padding.chunks > 1, by_chunks, whole)
        else:  # a known batch of several chunks
            flat = by_chunks()
        flat = iter(flat if isinstance(flat, (list, tuple)) else [flat])
        return tf.nest.pack_sequence_as(
            dtypes, [None if d is None else next(flat) for d in tf.nest.flatten(dtypes)]
        )

    def _kernel_gradient(self, prev_h, d_hz, kernel):
        """dU = sum over steps and rows of h_{t-1}^T dhz_t, per direction."""
        units, width = tf.shape(prev_h)[-1], tf.shape(d_hz)[-1]
        if self.directions == 1:
            return tf.matmul(
                tf.reshape(prev_h, [-1, units]), tf.reshape(d_hz, [-1, width]), transpose_a=True
            )
        steps = tf.shape(prev_h)[0]
        by_direction = [steps, self.directions, -1]
        prev_h = tf.reshape(prev_h, [*by_direction, units])
        d_hz = tf.reshape(d_hz, [*by_direction, width])
        return tf.einsum("tdbu,tdbk->duk", prev_h, d_hz)

    def _per_direction_sum(self, per_row, weight):
        """Sum a [rows, ...] gradient over the batch rows of each direction (weight's shape)."""
        if self.directions == 1:
            return tf.reduce_sum(per_row, axis=0)
        shape = tf.shape(per_row)
        split = tf.reshape(per_row, tf.concat([[self.directions, -1], shape[1:]], 0))
        return tf.reduce_sum(split, axis=1)

    # ------------------------------------------------------------------ loops
    def _rows(self, weight, rows):
        """A per-direction weight [directions, ...] repeated for every row of its direction."""
        if weight is None or self.directions == 1:
            return weight
        return tf.repeat(weight, rows // self.directions, axis=0)

    def _recurrent_matmul(self, h, kernel):
        """h U for h [rows, units]: one matmul, or one batched matmul over directions."""
        if self.directions == 1:
            return tf.matmul(h, kernel)
        units = tf.shape(h)[-1]
        h = tf.reshape(h, [self.directions, -1, units])
        return tf.reshape(tf.matmul(h, kernel), [-1, tf.shape(kernel)[-1]])

    def _step_input(self, states, kernel, rec_bias, dropout_mask):
        """hz of one step: h_in U + b_rec, or h_in for a cell without a loop kernel."""
        h_in = self.cell.recurrent_inputs(states, dropout_mask)
        if kernel is None:
            return h_in
        hz = self._recurrent_matmul(h_in, kernel)
        return hz + rec_bias if rec_bias is not None else hz

    def _forward_loop(
        self, xz, kernel, rec_bias, states0, weights, mask, dropout_mask, steps, for_backward=True
    ):
        """Run `steps` steps (xz may be longer: the capacity). Returns (stored state
        sequences, saved sequences, final states): for the backward every state and what
        `step` saves; otherwise h alone (faster). Entries past `steps` are zero."""
        cell = self.cell
        capacity, rows = tf.shape(xz)[0], tf.shape(xz)[1]
        rec_bias = self._rows(rec_bias, rows)
        weights = [self._rows(w, rows) for w in weights]
        stored = states0 if for_backward else states0[:1]
        state_tas = [tf.TensorArray(s.dtype, size=capacity) for s in stored]
        saved_tas = []
        if for_backward and cell.hand_written_backward:
            # one probe step (pruned from the graph) gives the saved dtypes
            probe = cell.step(
                xz[0], self._step_input(states0, kernel, rec_bias, None), states0, weights
            )
            saved_tas = [tf.TensorArray(s.dtype, size=capacity) for s in probe[2]]

        def body(t, states, state_tas, saved_tas):
            hz = self._step_input(states, kernel, rec_bias, dropout_mask)
            _, new_states, saved = cell.step(xz[t], hz, states, weights)
            if mask is not None:
                new_states = [tf.where(mask[t], n, s) for n, s in zip(new_states, states)]
            state_tas = [ta.write(t, s) for ta, s in zip(state_tas, new_states)]
            saved_tas = [ta.write(t, s) for ta, s in zip(saved_tas, saved)]
            return t + 1, new_states, state_tas, saved_tas

        _, finals, state_tas, saved_tas = tf.while_loop(
            lambda t, *_: t < steps,
            body,
            (tf.constant(0), states0, state_tas, saved_tas),
            parallel_iterations=1,
            maximum_iterations=capacity,
        )
        return [ta.stack() for ta in state_tas], [ta.stack() for ta in saved_tas], finals

    def _backward_loop(
        self,
        d_h_seq,
        d_finals,
        xz,
        kernel,
        rec_bias,
        states0,
        weights,
        seqs,
        saved,
        mask,
        dropout_mask,
        steps,
    ):
        """Steps `steps - 1` down to 0. Returns (dxz or None, dhz, d initial states, per-row
        extra-weight gradients); entries past `steps` are zero."""
        cell = self.cell
        capacity, rows = tf.shape(xz)[0], tf.shape(xz)[1]
        weights = [self._rows(w, rows) for w in weights]
        prev_seqs = [_stack_previous(s0, s) for s0, s in zip(states0, seqs)]
        # Everything of the backward that does not depend on the incoming gradient, for all
        # steps at once: the loop is left with a few multiply-adds and one matmul per step.
        factors = cell.prepare_backward(saved, prev_seqs, weights)
        kernel_t = tf.linalg.matrix_transpose(kernel)

        def backward_step(t, d_states):
            # tf.gather, not x[t]: XLA would need a slice start derived from `steps` at
            # compile time (one program per length); a gather index is a runtime value.
            d_new, d_keep = _incoming_gradients(d_states, d_h_seq, mask, t)
            factors_t = [tf.gather(f, t) for f in factors]
            d_xz, d_hz, d_prev = cell.step_backward(d_new[0], d_new[1:], factors_t)
            d_h_prev = self._recurrent_matmul(d_hz, kernel_t)
            if dropout_mask is not None:
                d_h_prev = d_h_prev * dropout_mask
            d_prev = list(d_prev)
            d_prev[0] = d_h_prev if d_prev[0] is None else d_h_prev + d_prev[0]
            if d_keep is not None:
                d_prev = [d + k for d, k in zip(d_prev, d_keep)]
            return d_prev, d_xz, d_hz

        # dxz is the very tensor dhz for the LSTM cells: then only one is stored.
        probe = backward_step(0, d_finals)
        separate_xz = probe[1] is not probe[2]
        xz_ta = tf.TensorArray(xz.dtype, size=capacity) if separate_xz else None
        hz_ta = tf.TensorArray(xz.dtype, size=capacity)

        def body(i, d_states, xz_ta, hz_ta):
            t = steps - 1 - i
            d_prev, d_xz, d_hz = backward_step(t, d_states)
            hz_ta = hz_ta.write(t, d_hz)
            if separate_xz:
                xz_ta = xz_ta.write(t, d_xz)
            return i + 1, d_prev, xz_ta, hz_ta

        _, d_states0, xz_ta, hz_ta = tf.while_loop(
            lambda i, *_: i < steps,
            body,
            (tf.constant(0), d_finals, xz_ta if separate_xz else 0, hz_ta),
            parallel_iterations=1,
            maximum_iterations=capacity,
        )
        d_hz = hz_ta.stack()
        d_xz = xz_ta.stack() if separate_xz else None
        d_extra = cell.extra_weight_gradients(d_hz, saved, prev_seqs, weights)
        return d_xz, d_hz, d_states0, d_extra

    def _autodiff_backward_loop(
        self,
        d_h_seq,
        d_finals,
        xz,
        kernel,
        rec_bias,
        states0,
        weights,
        seqs,
        saved,
        mask,
        dropout_mask,
        steps,
    ):
        """The backward of a cell without a hand-written one: steps `steps - 1` down to 0, each
        recomputed from the stored states and differentiated (its VJP). Returns (dxz, dhz or
        None without a loop kernel, d initial states, extra-weight gradients with a leading
        rows axis, or of one row for a single direction); entries past `steps` are zero."""
        cell = self.cell
        capacity, rows = tf.shape(xz)[0], tf.shape(xz)[1]
        rec_bias = self._rows(rec_bias, rows)
        weights = [self._rows(w, rows) for w in weights]
        prev_seqs = [_stack_previous(s0, s) for s0, s in zip(states0, seqs)]
        has_kernel = kernel is not None

        def body(i, d_states, d_weights, xz_ta, hz_ta):
            t = steps - 1 - i
            d_new, d_keep = _incoming_gradients(d_states, d_h_seq, mask, t)
            xz_t = tf.gather(xz, t)
            prev_t = [tf.gather(p, t) for p in prev_seqs]
            with tf.GradientTape() as tape:
                tape.watch([xz_t, *prev_t, *weights])
                hz = self._step_input(prev_t, kernel, rec_bias, dropout_mask)
                _, new_states, _ = cell.step(xz_t, hz, prev_t, weights)
            sources = [xz_t, *prev_t, *weights] + ([hz] if has_kernel else [])
            grads = tape.gradient(
                new_states,
                sources,
                output_gradients=d_new,
                unconnected_gradients=tf.UnconnectedGradients.ZERO,
            )
            n = len(prev_t)
            d_xz, d_prev = grads[0], grads[1 : 1 + n]
            d_w = grads[1 + n : 1 + n + len(weights)]
            if d_keep is not None:
                d_prev = [d + k for d, k in zip(d_prev, d_keep)]
            xz_ta = xz_ta.write(t, d_xz)
            if has_kernel:
                hz_ta = hz_ta.write(t, grads[-1])
            d_weights = [a + d for a, d in zip(d_weights, d_w)]
            return i + 1, d_prev, d_weights, xz_ta, hz_ta

        xz_ta = tf.TensorArray(xz.dtype, size=capacity)
        hz_ta = tf.TensorArray(xz.dtype, size=capacity) if has_kernel else 0
        _, d_states0, d_weights, xz_ta, hz_ta = tf.while_loop(
            lambda i, *_: i < steps,
            body,
            (tf.constant(0), d_finals, [tf.zeros_like(w) for w in weights], xz_ta, hz_ta),
            parallel_iterations=1,
            maximum_iterations=capacity,
        )
        if self.directions == 1:
            d_weights = [d[tf.newaxis] for d in d_weights]
        return xz_ta.stack(), hz_ta.stack() if has_kernel else None, d_states0, d_weights
