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
flows straight to the previous state. Each time loop can be compiled as one XLA unit
(`jit_compile=True`), which fuses the per-step elementwise ops around the matmul.
"""

from __future__ import annotations

import functools

import tensorflow as tf


def _stop_gradient(value):
    return None if value is None else tf.stop_gradient(value)


def _stack_previous(initial, stacked):
    """[s_{-1}, s_0, ..., s_{T-2}] from the initial state and the stacked states s_0..s_{T-1}."""
    return tf.concat([initial[tf.newaxis], stacked[:-1]], axis=0)


class FusedScan:
    """Forward and backward time loops for one cell (built once per layer, reused per call).

    Args:
        cell: a `lstm_zoo.cells.RecurrentCell` whose `supports_fused` is True.
        jit_compile: bool. Compile each time loop as one XLA computation.
    """

    def __init__(self, cell, jit_compile=True):
        self.cell = cell
        self.jit_compile = jit_compile
        self._forward = tf.function(
            self._forward_loop, jit_compile=jit_compile, autograph=False, reduce_retracing=True
        )
        self._forward_inference = tf.function(
            functools.partial(self._forward_loop, for_backward=False),
            jit_compile=jit_compile,
            autograph=False,
            reduce_retracing=True,
        )
        self._backward = tf.function(
            self._backward_loop, jit_compile=jit_compile, autograph=False, reduce_retracing=True
        )

    # ------------------------------------------------------------------ public
    def __call__(
        self, xz, initial_states, kernel, bias, extra, mask=None, dropout_mask=None, training=True
    ):
        """Run the recurrence.

        Args:
            xz: [time, batch, blocks * units] input projections (time-major).
            initial_states: list of [batch, units] tensors, h first.
            kernel: [units, blocks * units] recurrent kernel U.
            bias: [blocks * units] recurrent bias added to h U, or None.
            extra: list of the cell's extra weights (peepholes), as tensors.
            mask: [time, batch] bool, or None. False steps carry the state through.
            dropout_mask: [batch, units] recurrent dropout mask applied to h_{t-1}, or None.
            training: bool. False runs a forward loop that stores only h and the final states
                (measured 30% faster); a gradient of such a call is still exact: it first
                recomputes the forward loop that stores what the backward needs.

        Returns:
            (h_seq, final_states): h_t of every step ([time, batch, units]; at a masked step
            the carried h_{t-1}) and the states after the last step.
        """
        n_states, n_extra = len(initial_states), len(extra)
        has_bias = bias is not None
        if mask is not None:
            mask = tf.cast(mask, tf.bool)[:, :, tf.newaxis]

        @tf.custom_gradient
        def recurrence(xz, kernel, *args):
            states0 = list(args[:n_states])
            weights = list(args[n_states : n_states + n_extra])
            rec_bias = args[-1] if has_bias else None
            # The loops are differentiated by hand: hide their inputs from any active tape.
            inputs = tf.nest.map_structure(_stop_gradient, (xz, kernel, rec_bias, states0, weights))
            forward = self._forward if training else self._forward_inference
            seqs, saved, finals = forward(*inputs, mask, dropout_mask)
            h_seq = seqs[0]

            def grad(d_h_seq, *d_finals):
                if training:
                    seqs_, saved_ = seqs, saved
                else:  # recompute the loop that stores what the backward needs
                    seqs_, saved_, _ = self._forward(*inputs, mask, dropout_mask)
                return self._gradients(
                    d_h_seq,
                    d_finals,
                    xz,
                    kernel,
                    states0,
                    weights,
                    seqs_,
                    saved_,
                    has_bias,
                    mask,
                    dropout_mask,
                )

            return (h_seq, *finals), grad

        args = [*initial_states, *extra] + ([bias] if has_bias else [])
        outputs = recurrence(xz, kernel, *args)
        return outputs[0], list(outputs[1:])

    def _gradients(
        self,
        d_h_seq,
        d_finals,
        xz,
        kernel,
        states0,
        weights,
        seqs,
        saved,
        has_bias,
        mask,
        dropout_mask,
    ):
        """Gradients of every input of the recurrence, given the upstream gradients."""
        if d_h_seq is None:
            d_h_seq = tf.zeros_like(seqs[0])
        d_finals = [tf.zeros_like(s0) if d is None else d for d, s0 in zip(d_finals, states0)]
        d_xz, d_hz, d_states0, d_extra = self._backward(
            d_h_seq, d_finals, xz, kernel, states0, weights, seqs, saved, mask, dropout_mask
        )
        prev_h = _stack_previous(states0[0], seqs[0])
        if dropout_mask is not None:
            prev_h = prev_h * dropout_mask
        units = kernel.shape[0] or tf.shape(kernel)[0]
        d_kernel = tf.matmul(
            tf.reshape(prev_h, [-1, units]),
            tf.reshape(d_hz, [-1, tf.shape(d_hz)[-1]]),
            transpose_a=True,
        )
        grads = [d_xz if d_xz is not None else d_hz, d_kernel, *d_states0, *d_extra]
        if has_bias:
            grads.append(tf.reduce_sum(d_hz, axis=[0, 1]))
        return grads

    # ------------------------------------------------------------------ loops
    def _step_input(self, h_prev, kernel, rec_bias, dropout_mask):
        h_in = h_prev * dropout_mask if dropout_mask is not None else h_prev
        hz = tf.matmul(h_in, kernel)
        return hz + rec_bias if rec_bias is not None else hz

    def _forward_loop(
        self, xz, kernel, rec_bias, states0, weights, mask, dropout_mask, for_backward=True
    ):
        """Run the steps. Returns (stored state sequences, saved sequences, final states):
        for the backward every state and what `step` saves; otherwise h alone (faster)."""
        cell = self.cell
        steps = tf.shape(xz)[0]
        stored = states0 if for_backward else states0[:1]
        state_tas = [tf.TensorArray(s.dtype, size=steps) for s in stored]
        saved_tas = []
        if for_backward:  # one probe step (pruned from the graph) gives the saved dtypes
            probe = cell.step(
                xz[0], self._step_input(states0[0], kernel, rec_bias, None), states0, weights
            )
            saved_tas = [tf.TensorArray(s.dtype, size=steps) for s in probe[2]]

        def body(t, states, state_tas, saved_tas):
            hz = self._step_input(states[0], kernel, rec_bias, dropout_mask)
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
            maximum_iterations=steps,
        )
        return [ta.stack() for ta in state_tas], [ta.stack() for ta in saved_tas], finals

    def _backward_loop(
        self, d_h_seq, d_finals, xz, kernel, states0, weights, seqs, saved, mask, dropout_mask
    ):
        cell = self.cell
        steps = tf.shape(xz)[0]
        prev_seqs = [_stack_previous(s0, s) for s0, s in zip(states0, seqs)]
        # Everything of the backward that does not depend on the incoming gradient, for all
        # steps at once: the loop is left with a few multiply-adds and one matmul per step.
        factors = cell.prepare_backward(saved, prev_seqs, weights)
        kernel_t = tf.transpose(kernel)

        def backward_step(t, d_states):
            d_states = list(d_states)
            d_states[0] = d_states[0] + d_h_seq[t]
            if mask is not None:
                d_new = [tf.where(mask[t], d, tf.zeros_like(d)) for d in d_states]
                d_keep = [tf.where(mask[t], tf.zeros_like(d), d) for d in d_states]
            else:
                d_new, d_keep = d_states, None
            d_xz, d_hz, d_prev = cell.step_backward(d_new[0], d_new[1:], [f[t] for f in factors])
            d_h_prev = tf.matmul(d_hz, kernel_t)
            if dropout_mask is not None:
                d_h_prev = d_h_prev * dropout_mask
            d_prev = list(d_prev)
            d_prev[0] = d_h_prev if d_prev[0] is None else d_h_prev + d_prev[0]
            if d_keep is not None:
                d_prev = [d + k for d, k in zip(d_prev, d_keep)]
            return d_prev, d_xz, d_hz

        # dxz is the very tensor dhz for the LSTM cells: then only one is stored.
        probe = backward_step(steps - 1, d_finals)
        separate_xz = probe[1] is not probe[2]
        xz_ta = tf.TensorArray(xz.dtype, size=steps) if separate_xz else None
        hz_ta = tf.TensorArray(xz.dtype, size=steps)

        def body(t, d_states, xz_ta, hz_ta):
            d_prev, d_xz, d_hz = backward_step(t, d_states)
            hz_ta = hz_ta.write(t, d_hz)
            if separate_xz:
                xz_ta = xz_ta.write(t, d_xz)
            return t - 1, d_prev, xz_ta, hz_ta

        _, d_states0, xz_ta, hz_ta = tf.while_loop(
            lambda t, *_: t >= 0,
            body,
            (steps - 1, d_finals, xz_ta if separate_xz else 0, hz_ta),
            parallel_iterations=1,
            maximum_iterations=steps,
        )
        d_hz = hz_ta.stack()
        d_xz = xz_ta.stack() if separate_xz else None
        d_extra = cell.extra_weight_gradients(d_hz, saved, prev_seqs, weights)
        return d_xz, d_hz, d_states0, d_extra
