"""Samplers: how the next token is chosen from the model's next-token logits.

As keras-hub's samplers: the model supplies `next(tokens, states)`, a sampler chooses the next
token (`get_next_token`) and runs the loop (`run`), one `tf.function`/XLA graph. The loop here
carries the recurrent states, so each new token costs one recurrent step.

Every sampler divides the logits by `temperature` (T > 1 flattens, T < 1 sharpens:
p_i ∝ exp(z_i / T)) and never chooses the padding id 0. Random draws are stateless: step t
uses the seed `fold_in(seed, t)` and the Gumbel-max trick, argmax_i(z_i / T + g_i) with
g_i = -log(-log u_i), u_i ~ U(0, 1), which samples exactly from softmax(z / T); the same seed
gives the same tokens, with or without XLA.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from lstm_zoo.generation import topk
from lstm_zoo.generation.step import run_prefix
from lstm_zoo.validation import check_number

_register = keras.saving.register_keras_serializable(package="lstm_zoo")


def check_temperature(temperature):
    """`temperature` as a float; ValueError unless a finite number > 0."""
    return check_number("temperature", temperature, 0.0, low_open=True)


def mask_padding(logits):
    """Logits with the padding id 0 set to -inf, so it is never chosen."""
    vocab = logits.shape[-1]
    if vocab is not None:  # one add of a constant row
        penalty = np.zeros([vocab], logits.dtype.as_numpy_dtype)
        penalty[0] = -np.inf
        return logits + penalty
    ids = tf.range(tf.shape(logits)[-1])
    return tf.where(ids == 0, tf.constant(float("-inf"), logits.dtype), logits)


def uniform_noise(shape, seed, dtype=tf.float32):
    """u ~ U(0, 1), open interval, from a stateless [2] seed, bit-identical with and without XLA.

    The random bits come from Philox (`stateless_random_uniform_full_int`, the same in both);
    TensorFlow's own float conversion differs between its kernel and XLA, so it is done here:
    u = (floor(bits / 2^8) + 1/2) / 2^24.
    """
    bits = tf.random.stateless_uniform(
        shape, seed, minval=None, maxval=None, dtype=tf.uint32, alg="philox"
    )
    high = tf.cast(tf.bitwise.right_shift(bits, tf.constant(8, tf.uint32)), dtype)
    return (high + 0.5) * (2.0**-24)


def gumbel_noise(shape, seed, dtype=tf.float32):
    """g = -log(-log u) with u from `uniform_noise`: argmax(z + g) samples softmax(z)."""
    return -tf.math.log(-tf.math.log(uniform_noise(shape, seed, dtype)))


def step_seed(seed, t):
    """The seed of step t: a stateless fold of t into the [2] seed."""
    return tf.random.experimental.stateless_fold_in(seed, t, alg="philox")


def _checked_k(k, logits, name):
    vocab = logits.shape[-1]
    if vocab is not None and k > vocab:
        raise ValueError(f"{name}: k={k} exceeds the vocabulary size {vocab}")
    return k


class Sampler:
    """Base sampler: token-by-token generation with the choice in `get_next_token`.

    Args:
        temperature: float > 0. Logits are divided by it before the choice.
    """

    random = True  # whether `get_next_token` reads its seed

    def __init__(self, temperature=1.0):
        self.temperature = check_temperature(temperature)

    def get_next_token(self, logits, seed):
        """Choose one token per row.

        Args:
            logits: float [batch, vocab], already divided by the temperature, padding masked.
            seed: int [2]. Stateless seed for this step.

        Returns:
            int32 [batch].
        """
        raise NotImplementedError

    def run(self, step, tokens, prompt_lengths, max_length, end_token=None, seed=None):
        """Generate into `tokens` after each prompt; see `generate_tokens` for the contract.

        Args:
            step: StepModel.
            tokens: int32 [batch, max_length]. Prompts, right-padded with 0.
            prompt_lengths: int32 [batch]. Each >= 1.
            max_length: int. Total length (prompt included).
            end_token: int or None. Stops a sequence after it (the end token is kept).
            seed: int [2] stateless seed.

        Returns:
            dict with "tokens" int32 [batch, max_length] (0 after each sequence's end) and
            "lengths" int32 [batch].
        """
        batch = tf.shape(tokens)[0]
        columns = tf.range(max_length)[None, :]
        t0 = tf.reduce_min(prompt_lengths) - 1
        states = run_prefix(step, tokens, t0, step.initial_states(batch))
        finished = tf.zeros([batch], tf.bool)
        seed = tf.zeros([2], tf.int32) if seed is None else seed

        def cond(t, tokens, states, finished, lengths):
            return tf.logical_and(t < max_length - 1, tf.logical_not(tf.reduce_all(finished)))

        def body(t, tokens, states, finished, lengths):
            logits, states = step.next(tf.gather(tokens, t, axis=1), states)
            logits = mask_padding(tf.cast(logits, tf.float32))
            if self.temperature != 1.0:
                logits = logits / self.temperature
            seed_t = step_seed(seed, t) if self.random else None
            chosen = tf.cast(self.get_next_token(logits, seed_t), tf.int32)
            forced = t + 1 < prompt_lengths
            chosen = tf.where(forced, tf.gather(tokens, t + 1, axis=1), chosen)
            chosen = tf.where(finished, tf.zeros_like(chosen), chosen)
            tokens = tf.where(columns == t + 1, chosen[:, None], tokens)
            lengths = tf.where(finished, lengths, tf.maximum(lengths, t + 2))
            if end_token is not None:
                finished = finished | (~forced & tf.equal(chosen, end_token))
            return t + 1, tokens, states, finished, lengths

        _, tokens, _, _, lengths = tf.while_loop(
            cond, body, (t0, tokens, states, finished, prompt_lengths)
        )
        return {"tokens": tokens, "lengths": lengths}

    def get_config(self):
        return {"temperature": self.temperature}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@_register
class GreedySampler(Sampler):
    """The most probable token: argmax_i z_i (temperature does not change it)."""

    random = False

    def get_next_token(self, logits, seed):
        return topk.argmax(logits)


@_register
class RandomSampler(Sampler):
    """A draw from the whole distribution softmax(z / T)."""

    def get_next_token(self, logits, seed):
        noise = gumbel_noise(tf.shape(logits), seed, logits.dtype)
        return topk.argmax(logits + noise)


@_register
class TopKSampler(Sampler):
    """A draw among the k most probable tokens, renormalized (Fan et al. 2018).

    The source notes' "greedy sampling" (choose among the n most probable words to avoid
    monotonous output) is this sampler with k = n.

    Args:
        k: int >= 1. Number of candidates; k=1 is greedy.
        temperature: float > 0.
    """

    def __init__(self, k=5, temperature=1.0):
        super().__init__(temperature)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an integer >= 1; got k={k!r}")
        self.k = k

    def get_next_token(self, logits, seed):
        values, indices = topk.top_k(logits, _checked_k(self.k, logits, "TopKSampler"))
        noise = gumbel_noise(tf.shape(values), seed, values.dtype)
        choice = tf.argmax(values + noise, axis=-1, output_type=tf.int32)
        return tf.gather(indices, choice, batch_dims=1)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


@_register
class TopPSampler(Sampler):
    """Nucleus sampling (Holtzman et al. 2020): a draw from the smallest set of most probable
    tokens whose probability reaches p, renormalized. The most probable token is always in.

    Tokens sorted by probability p_(1) >= p_(2) >= ..; token (j) is kept iff
    sum_{i<j} p_(i) < p (after the temperature).

    Args:
        p: float in (0, 1]. Probability mass kept; p=1 samples from all tokens.
        k: int or None. Sort only the k most probable first (faster for large vocabularies;
            the result differs only if the top k hold less than p).
        temperature: float > 0.
    """

    def __init__(self, p=0.9, k=None, temperature=1.0):
        super().__init__(temperature)
        check_number("p", p, 0.0, 1.0, low_open=True)
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ValueError(f"k must be None or an integer >= 1; got k={k!r}")
        self.p = float(p)
        self.k = k

    def get_next_token(self, logits, seed):
        vocab = logits.shape[-1] if logits.shape[-1] is not None else tf.shape(logits)[-1]
        k = vocab if self.k is None else _checked_k(self.k, logits, "TopPSampler")
        values, indices = topk.top_k(logits, k) if self.k else tf.math.top_k(logits, k)
        probabilities = tf.nn.softmax(logits, axis=-1)
        sorted_probabilities = tf.gather(probabilities, indices, batch_dims=1)
        mass_before = tf.cumsum(sorted_probabilities, axis=-1, exclusive=True)
        values = tf.where(mass_before < self.p, values, tf.constant(float("-inf"), values.dtype))
        noise = gumbel_noise(tf.shape(values), seed, values.dtype)
        choice = tf.argmax(values + noise, axis=-1, output_type=tf.int32)
        return tf.gather(indices, choice, batch_dims=1)

    def get_config(self):
        return {**super().get_config(), "p": self.p, "k": self.k}
