"""Linear-chain conditional random field: log-likelihood and Viterbi decoding (Lafferty et al.
2001; as a tagger head, Lample et al. 2016), in TensorFlow ops that compile under XLA.

For emission scores e_t(y) of a sentence of n tokens, transitions A[y', y], start scores s and
end scores f, a tag path y_1..y_n scores

    score(y) = s[y_1] + sum_t e_t(y_t) + sum_{t>1} A[y_{t-1}, y_t] + f[y_n]

and log p(y | x) = score(y) - log sum_{y'} exp score(y') (the forward algorithm). Padding
(mask False, always after the real tokens) takes no part.
"""

from __future__ import annotations

import keras
import tensorflow as tf


def crf_log_likelihood(emissions, tags, mask, transitions, start, end):
    """log p(tags | emissions) per sequence, [batch].

    Args:
        emissions: [batch, time, num_tags] float.
        tags: [batch, time] int. Values at padded steps are ignored.
        mask: [batch, time] bool, True for real tokens (a prefix of each row; at least one).
        transitions: [num_tags, num_tags]; start, end: [num_tags].
    """
    return _path_score(emissions, tags, mask, transitions, start, end) - crf_log_partition(
        emissions, mask, transitions, start, end
    )


def _path_score(emissions, tags, mask, transitions, start, end):
    tags = tf.cast(tags, tf.int32)
    maskf = tf.cast(mask, emissions.dtype)
    emitted = tf.gather(emissions, tags, batch_dims=2)  # [batch, time]
    score = tf.reduce_sum(emitted * maskf, axis=1)
    score += tf.gather(start, tags[:, 0])
    pairs = tf.gather_nd(transitions, tf.stack([tags[:, :-1], tags[:, 1:]], axis=-1))
    score += tf.reduce_sum(pairs * maskf[:, 1:], axis=1)
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    last = tf.gather(tags, lengths - 1, batch_dims=1)
    return score + tf.gather(end, last)


def crf_log_partition(emissions, mask, transitions, start, end):
    """log sum over all tag paths of exp score, [batch] (the forward algorithm)."""
    alpha = start[None, :] + emissions[:, 0]
    steps = tf.transpose(emissions[:, 1:], [1, 0, 2])
    step_mask = tf.transpose(mask[:, 1:], [1, 0])

    def body(alpha, inputs):
        emission, keep = inputs
        scores = alpha[:, :, None] + transitions[None] + emission[:, None, :]
        new = tf.reduce_logsumexp(scores, axis=1)
        return tf.where(keep[:, None], new, alpha)

    alpha = tf.foldl(body, (steps, step_mask), initializer=alpha) if _has_steps(steps) else alpha
    return tf.reduce_logsumexp(alpha + end[None, :], axis=1)


def viterbi_decode(emissions, mask, transitions, start, end):
    """The highest-scoring tag path per sequence, [batch, time] int32 (0 at padding)."""
    batch, num_tags = tf.shape(emissions)[0], tf.shape(emissions)[2]
    score = start[None, :] + emissions[:, 0]
    steps = tf.transpose(emissions[:, 1:], [1, 0, 2])
    step_mask = tf.transpose(mask[:, 1:], [1, 0])

    def body(carry, inputs):
        score, _ = carry
        emission, keep = inputs
        candidates = score[:, :, None] + transitions[None]
        best_previous = tf.argmax(candidates, axis=1, output_type=tf.int32)
        new = tf.reduce_max(candidates, axis=1) + emission
        identity = tf.broadcast_to(tf.range(num_tags)[None], [batch, num_tags])
        return (
            tf.where(keep[:, None], new, score),
            tf.where(keep[:, None], best_previous, identity),
        )

    init = (score, tf.zeros([batch, num_tags], tf.int32))
    scores, backpointers = tf.scan(body, (steps, step_mask), initializer=init)
    final = (scores[-1] if _has_steps(steps) else score) + end[None, :]
    best_last = tf.argmax(final, axis=1, output_type=tf.int32)

    def back(tag, pointers):
        return tf.gather(pointers, tag, batch_dims=1)

    previous = tf.scan(back, backpointers, initializer=best_last, reverse=True)
    path = tf.concat([tf.transpose(previous, [1, 0]), best_last[:, None]], axis=1)
    return tf.where(mask, path, tf.zeros_like(path))


def _has_steps(steps):
    return steps.shape[0] is None or steps.shape[0] > 0


@keras.saving.register_keras_serializable(package="lstm_zoo")
class CRF(keras.layers.Layer):
    """A linear-chain CRF head: holds transitions, start and end scores.

    `call(emissions, mask)` returns the Viterbi tag paths; `log_likelihood(emissions, tags,
    mask)` gives log p(tags | emissions) for training (minimize its negative mean).

    Args:
        num_tags: int. Number of tags.
    """

    def __init__(self, num_tags, **kwargs):
        super().__init__(**kwargs)
        if num_tags < 1:
            raise ValueError(f"num_tags must be positive; got {num_tags}")
        self.num_tags = num_tags
        self.supports_masking = True

    def build(self, input_shape):
        init = keras.initializers.RandomUniform(-0.1, 0.1)
        self.transitions = self.add_weight(
            shape=(self.num_tags, self.num_tags), initializer=init, name="transitions"
        )
        self.start = self.add_weight(shape=(self.num_tags,), initializer=init, name="start")
        self.end = self.add_weight(shape=(self.num_tags,), initializer=init, name="end")

    def _mask(self, emissions, mask):
        if mask is None:
            return tf.ones(tf.shape(emissions)[:2], tf.bool)
        return tf.cast(mask, tf.bool)

    def call(self, emissions, mask=None):
        return viterbi_decode(
            emissions, self._mask(emissions, mask), self.transitions, self.start, self.end
        )

    def log_likelihood(self, emissions, tags, mask=None):
        """log p(tags | emissions) per sequence. A tag outside [0, num_tags) at a real
        (unmasked) step is an error (InvalidArgumentError naming the layer and the range);
        XLA drops the check, as it drops every assertion."""
        mask = self._mask(emissions, mask)
        tags = tf.cast(tags, tf.int32)
        inside = tf.logical_and(tags >= 0, tags < self.num_tags)
        check = tf.debugging.Assert(
            tf.reduce_all(tf.logical_or(inside, tf.logical_not(mask))),
            [
                f"{self.name}: a tag id outside [0, {self.num_tags}) at an unmasked step; tags:",
                tags,
            ],
            summarize=20,
        )
        with tf.control_dependencies([check]):
            tags = tf.identity(tags)
        # Padded steps' values are ignored; keep them in range for the gathers.
        tags = tf.where(mask, tags, tf.zeros_like(tags))
        return crf_log_likelihood(emissions, tags, mask, self.transitions, self.start, self.end)

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2])

    def get_config(self):
        return {**super().get_config(), "num_tags": self.num_tags}
