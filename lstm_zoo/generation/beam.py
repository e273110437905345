"""Beam search: keep the `num_beams` most probable partial sequences by joint probability."""

from __future__ import annotations

import keras
import tensorflow as tf

from lstm_zoo.generation import topk
from lstm_zoo.generation.samplers import Sampler, mask_padding
from lstm_zoo.generation.step import run_prefix
from lstm_zoo.validation import check_number

_NEG_INF = float("-inf")


@keras.saving.register_keras_serializable(package="lstm_zoo")
class BeamSampler(Sampler):
    """Beam search over the carried recurrent states.

    Each hypothesis y_1..y_n (the generated tokens after the prompt; the end token counts,
    the prompt does not) has the joint log-probability S = sum_j log p(y_j | prompt, y_<j)
    (with the temperature: log softmax(z / T)). Hypotheses are ranked by

        S / lp(n),   lp(n) = ((5 + n) / 6) ** alpha        (Wu et al. 2016, GNMT)

    with alpha = `length_penalty`; alpha = 0 (the default) ranks by joint probability alone.
    At every step each live beam is extended by every token, and the `num_beams` best of the
    num_beams x vocab candidates (and the finished beams) are kept; only each beam's own
    `num_beams` best tokens can be among them, so those are selected per beam first. A beam
    that emits the end token is frozen: its score no longer changes and it emits padding (0)
    until the end; a sequence stops when all its beams are finished. One beam is greedy search.
    As in keras-hub, finished and live hypotheses share the pool of `num_beams`: a finished
    one leaves it only when `num_beams` better ones exist at that step.

    Args:
        num_beams: int >= 1.
        length_penalty: float alpha >= 0 (see above; > 0 favours longer hypotheses).
        return_all_beams: bool. Also return every beam, its length and its score, best first.
        temperature: float > 0.
    """

    random = False

    def __init__(self, num_beams=5, length_penalty=0.0, return_all_beams=False, temperature=1.0):
        super().__init__(temperature)
        if isinstance(num_beams, bool) or not isinstance(num_beams, int) or num_beams < 1:
            raise ValueError(f"num_beams must be an integer >= 1; got num_beams={num_beams!r}")
        check_number("length_penalty", length_penalty, 0.0)
        self.num_beams = num_beams
        self.length_penalty = float(length_penalty)
        self.return_all_beams = bool(return_all_beams)

    def get_config(self):
        return {
            **super().get_config(),
            "num_beams": self.num_beams,
            "length_penalty": self.length_penalty,
            "return_all_beams": self.return_all_beams,
        }

    def get_next_token(self, logits, seed):
        raise NotImplementedError("BeamSampler chooses whole hypotheses; call `run`.")

    def _normalize(self, scores, generated):
        if self.length_penalty == 0.0:
            return scores
        length = tf.cast(generated, scores.dtype)
        return scores / ((5.0 + length) / 6.0) ** self.length_penalty

    def run(self, step, tokens, prompt_lengths, max_length, end_token=None, seed=None):
        """Beam search after each prompt; `Sampler.run` gives the contract. With
        `return_all_beams` the result also has "beam_tokens" int32 [batch, beams, max_length],
        "beam_lengths" int32 [batch, beams] and "beam_scores" float32 [batch, beams]
        (S / lp(n), best first)."""
        beams_k = self.num_beams
        batch = tf.shape(tokens)[0]
        columns = tf.range(max_length)[None, :]
        t0 = tf.reduce_min(prompt_lengths) - 1
        # The shared prompt prefix runs once per sequence, then the states are copied per beam.
        states = run_prefix(step, tokens, t0, step.initial_states(batch))
        states = tf.nest.map_structure(lambda s: tf.repeat(s, beams_k, axis=0), states)
        beams = tf.repeat(tokens, beams_k, axis=0)  # [batch * beams, max_length]
        # Only beam 0 is alive at first, so the first expansion has no duplicates.
        first = tf.constant([0.0] + [_NEG_INF] * (beams_k - 1), tf.float32)
        scores = tf.tile(first[None, :], [batch, 1])
        generated = tf.zeros([batch, beams_k], tf.int32)
        finished = tf.zeros([batch, beams_k], tf.bool)
        lengths_in = tf.repeat(prompt_lengths, beams_k)
        keep_order = tf.tile(tf.range(beams_k)[None, :], [batch, 1])
        row_offset = (tf.range(batch) * beams_k)[:, None]

        def done(scores, finished):
            return tf.reduce_all(finished | tf.equal(scores, _NEG_INF))

        def cond(t, beams, states, scores, generated, finished):
            return tf.logical_and(t < max_length - 1, tf.logical_not(done(scores, finished)))

        def body(t, beams, states, scores, generated, finished):
            logits, new_states = step.next(tf.gather(beams, t, axis=1), states)
            log_probs, top_ids, per_row = self._beam_continuations(logits, finished, batch)
            candidates = scores[:, :, None] + log_probs
            candidate_generated = generated + tf.cast(~finished, tf.int32)
            ranked = self._normalize(candidates, candidate_generated[:, :, None])
            _, flat_index = tf.math.top_k(tf.reshape(ranked, [batch, -1]), k=beams_k)
            parent = flat_index // per_row
            chosen = tf.gather(tf.reshape(top_ids, [batch, -1]), flat_index, batch_dims=1)
            new_scores = tf.gather(tf.reshape(candidates, [batch, -1]), flat_index, batch_dims=1)
            new_generated = tf.gather(candidate_generated, parent, batch_dims=1)
            new_finished = tf.gather(finished, parent, batch_dims=1)
            if end_token is not None:
                new_finished = new_finished | tf.equal(chosen, end_token)
            # Inside its prompt a sequence takes the prompt token on every beam, unscored.
            forced = (t + 1 < prompt_lengths)[:, None]
            prompt_token = tf.gather(tokens, t + 1, axis=1)
            parent = tf.where(forced, keep_order, parent)
            chosen = tf.where(forced, prompt_token[:, None], chosen)
            new_scores = tf.where(forced, scores, new_scores)
            new_generated = tf.where(forced, generated, new_generated)
            new_finished = tf.where(forced, finished, new_finished)

            rows = tf.reshape(row_offset + parent, [-1])
            new_beams = tf.gather(beams, rows)
            new_beams = tf.where(columns == t + 1, tf.reshape(chosen, [-1, 1]), new_beams)
            new_states = tf.nest.map_structure(lambda s: tf.gather(s, rows), new_states)
            # Gathers by computed rows lose the static batch size; the loop needs it back.
            for new, old in zip(
                tf.nest.flatten((new_beams, new_states, new_scores)),
                tf.nest.flatten((beams, states, scores)),
            ):
                new.set_shape(old.shape)
            return t + 1, new_beams, new_states, new_scores, new_generated, new_finished

        _, beams, _, scores, generated, _ = tf.while_loop(
            cond, body, (t0, beams, states, scores, generated, finished)
        )
        return self._best_first(beams, scores, generated, lengths_in, batch, max_length)

    def _beam_continuations(self, logits, finished, batch):
        """Each beam's `per_row` best next tokens: (log p [batch, beams, per_row], their ids,
        per_row). Only a beam's own `per_row` best tokens can be among the best `num_beams`
        extensions of all beams, so they are selected per row first (log p = z - logsumexp z);
        a finished beam has one continuation, padding, at no cost."""
        beams_k = self.num_beams
        logits = mask_padding(tf.cast(logits, tf.float32))
        if self.temperature != 1.0:
            logits = logits / self.temperature
        vocab = logits.shape[-1]
        per_row = beams_k if vocab is None else min(beams_k, vocab)
        frozen_row = tf.constant([0.0] + [_NEG_INF] * (per_row - 1), tf.float32)
        top_logits, top_ids = topk.top_k(logits, per_row)
        # The row maximum comes with the top-k (a reduction, not a slice [:, :1]: XLA then
        # keeps its fast TopK instead of a full sort).
        row_max = tf.reduce_max(top_logits, axis=-1, keepdims=True)
        log_norm = row_max + tf.math.log(
            tf.reduce_sum(tf.exp(logits - row_max), axis=-1, keepdims=True)
        )
        log_probs = tf.reshape(top_logits - log_norm, [batch, beams_k, per_row])
        top_ids = tf.reshape(top_ids, [batch, beams_k, per_row])
        log_probs = tf.where(finished[:, :, None], frozen_row, log_probs)
        top_ids = tf.where(finished[:, :, None], tf.zeros_like(top_ids), top_ids)
        return log_probs, top_ids, per_row

    def _best_first(self, beams, scores, generated, lengths_in, batch, max_length):
        """`run`'s result: the beams ordered by their length-normalized score."""
        beams_k = self.num_beams
        ranked, order = tf.math.top_k(self._normalize(scores, generated), k=beams_k)
        beam_lengths = tf.reshape(lengths_in, [batch, beams_k]) + generated
        beam_lengths = tf.gather(beam_lengths, order, batch_dims=1)
        beams = tf.gather(tf.reshape(beams, [batch, beams_k, max_length]), order, batch_dims=1)
        result = {"tokens": beams[:, 0], "lengths": beam_lengths[:, 0]}
        if self.return_all_beams:
            result.update(beam_tokens=beams, beam_lengths=beam_lengths, beam_scores=ranked)
        return result
