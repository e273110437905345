"""Samplers and beam search on fake next-token distributions whose answers are known."""

import itertools
import math

import numpy as np
import pytest
import tensorflow as tf

from lstm_zoo.generation import (
    BeamSampler,
    GreedySampler,
    RandomSampler,
    StepModel,
    TopKSampler,
    TopPSampler,
    available_samplers,
    generate,
    get_sampler,
    serialize_sampler,
)


class MarkovStep(StepModel):
    """A first-order Markov chain: p(next | previous token) = probabilities[previous].

    States count the steps taken (so a test can see how many ran); `calls` counts executed
    `next` calls through a variable (graph-safe).
    """

    def __init__(self, probabilities):
        probabilities = np.asarray(probabilities, np.float64)
        self.vocab_size = probabilities.shape[1]
        self.probabilities = probabilities
        with np.errstate(divide="ignore"):
            self.table = tf.constant(np.log(probabilities), tf.float32)
        self.calls = tf.Variable(0, dtype=tf.int32, trainable=False)

    def initial_states(self, batch_size):
        return (tf.zeros(tf.stack([batch_size, 1])),)

    def next(self, token_ids, states):
        self.calls.assign_add(1)
        return tf.gather(self.table, token_ids), (states[0] + 1.0,)


def chain(rows):
    """A transition matrix from {previous: {next: p}} over ids 0..V-1 (row 0 unused)."""
    vocab = 1 + max(max(rows), max(max(r) for r in rows.values()))
    matrix = np.full((vocab, vocab), 1e-9)
    matrix[:, 0] = 0.0
    for previous, row in rows.items():
        for token, p in row.items():
            matrix[previous, token] = p
    return matrix / matrix.sum(1, keepdims=True)


def random_chain(vocab, seed, concentration=0.5):
    rng = np.random.RandomState(seed)
    matrix = rng.dirichlet([concentration] * (vocab - 1), size=vocab)
    return np.concatenate([np.zeros((vocab, 1)), matrix], 1)


# 1 -> 2 (0.5) then flat; 1 -> 3 (0.4) then 4 (0.9): greedy takes 1 2 x (<= 0.5 * 0.35),
# the most probable two-token continuation is 1 3 4 (0.36).
TRAP = chain(
    {
        1: {2: 0.5, 3: 0.4, 4: 0.05, 5: 0.05},
        2: {2: 0.2, 3: 0.2, 4: 0.35, 5: 0.25},
        3: {4: 0.9, 2: 0.05, 5: 0.05},
        4: {1: 1.0},
        5: {1: 1.0},
    }
)


def brute_force(probabilities, prompt, new_tokens, end_token=None, alpha=0.0):
    """Every hypothesis of up to `new_tokens` tokens (stopping at the end token), scored by
    sum log p / ((5 + n) / 6) ** alpha, best first."""
    vocab = probabilities.shape[0]
    hypotheses = []
    for sequence in itertools.product(range(1, vocab), repeat=new_tokens):
        if end_token is not None and end_token in sequence:
            sequence = sequence[: sequence.index(end_token) + 1]
        previous, log_p = prompt[-1], 0.0
        for token in sequence:
            log_p += math.log(probabilities[previous, token])
            previous = token
        hypotheses.append((log_p / ((5 + len(sequence)) / 6) ** alpha, list(sequence)))
    unique = {tuple(s): score for score, s in hypotheses}
    return sorted(((score, list(s)) for s, score in unique.items()), reverse=True)


def test_beam_search_finds_the_most_probable_sequence_where_greedy_does_not():
    step = MarkovStep(TRAP)
    best = brute_force(TRAP, [1], 2)[0][1]
    assert best == [3, 4]
    assert generate(step, [[1]], 3, "beam", num_beams=2) == [[1, 3, 4]]
    greedy = generate(step, [[1]], 3, "greedy")
    assert greedy[0][1] == 2 and greedy != [[1, 3, 4]]


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_exhaustive_beam_search_equals_brute_force_with_end_token(alpha):
    probabilities = random_chain(4, seed=3)
    end, prompt, new = 3, [2, 1], 3
    expected = brute_force(probabilities, prompt, new, end_token=end, alpha=alpha)
    sampler = BeamSampler(num_beams=27, length_penalty=alpha, return_all_beams=True)
    beams, scores = generate(MarkovStep(probabilities), [prompt], len(prompt) + new, sampler, end)
    finite = np.isfinite(scores[0])
    assert finite.sum() == len(expected)
    got = [b[len(prompt) :] for b, ok in zip(beams[0], finite) if ok]
    np.testing.assert_allclose(scores[0][finite], [s for s, _ in expected], rtol=1e-5)
    assert got[0] == expected[0][1]
    assert sorted(map(tuple, got)) == sorted(tuple(s) for _, s in expected)


def test_finished_beams_are_frozen_and_padded():
    # From 1: end token 4 at once (0.6), or 2 (0.4) then 3 (0.5) ...
    probabilities = chain({1: {4: 0.6, 2: 0.4}, 2: {3: 0.5, 2: 0.5}, 3: {2: 1.0}, 4: {1: 1.0}})
    sampler = BeamSampler(num_beams=2, return_all_beams=True)
    beams, scores = generate(MarkovStep(probabilities), [[1]], 6, sampler, end_token=4)
    assert beams[0][0] == [1, 4]  # finished first, score log 0.6, kept to the end
    np.testing.assert_allclose(scores[0][0], math.log(0.6), rtol=1e-5)
    assert beams[0][1][:3] == [1, 2, 2] or beams[0][1][:3] == [1, 2, 3]
    out = generate(MarkovStep(probabilities), [[1]], 6, BeamSampler(2, return_all_beams=False), 4)
    assert out == [[1, 4]]


def test_one_beam_equals_greedy_and_top_k_one_equals_greedy():
    step = MarkovStep(random_chain(12, seed=0))
    prompts = [[1, 5, 7], [3], [2, 2, 9, 4, 1]]
    greedy = generate(step, prompts, 12, "greedy", end_token=11)
    assert generate(step, prompts, 12, "beam", end_token=11, num_beams=1) == greedy
    assert generate(step, prompts, 12, "top_k", end_token=11, k=1, seed=5) == greedy
    # Greedy follows the argmax of the chain (never the padding id).
    for sequence, prompt in zip(greedy, prompts):
        for t in range(len(prompt), len(sequence)):
            assert sequence[t] == int(np.argmax(step.probabilities[sequence[t - 1]]))


def test_top_k_never_emits_a_token_outside_the_k_most_probable():
    probabilities = random_chain(15, seed=1, concentration=1.0)
    prompts = [[1 + i % 14] for i in range(64)]
    out = generate(MarkovStep(probabilities), prompts, 12, "top_k", k=3, seed=7)
    emitted = set()
    for sequence in out:
        for previous, token in zip(sequence, sequence[1:]):
            assert token in np.argsort(-probabilities[previous])[:3]
            emitted.add((previous, token))
    assert len(emitted) > 30  # it does sample, not only the argmax


def _target(p, sampler):
    logits = np.log(p[1:]) / sampler.temperature
    q = np.exp(logits - logits.max())
    q /= q.sum()
    order = np.argsort(-q)
    keep = np.ones_like(q, bool)
    if isinstance(sampler, TopKSampler):
        keep[:] = False
        keep[order[: sampler.k]] = True
    if isinstance(sampler, TopPSampler):
        before = np.cumsum(q[order]) - q[order]
        keep[:] = False
        keep[order[before < sampler.p]] = True
    q = np.where(keep, q, 0.0)
    return np.concatenate([[0.0], q / q.sum()])


@pytest.mark.parametrize(
    "sampler",
    [RandomSampler(), RandomSampler(temperature=2.0), TopKSampler(3), TopPSampler(0.7)],
    ids=["random", "random_t2", "top_k3", "top_p07"],
)
def test_sampling_frequencies_match_the_probabilities(sampler):
    p = np.array([0.0, 0.4, 0.25, 0.15, 0.1, 0.06, 0.04])
    step = MarkovStep(np.tile(p, (7, 1)))
    n = 20000
    out = np.array(generate(step, [[1]] * n, 2, sampler, seed=2026))[:, 1]
    counts = np.bincount(out, minlength=7)
    q = _target(p, sampler)
    frequency = counts / n
    # Each frequency within 4.5 standard errors of its probability: with 7 categories and 4
    # cases, a correct sampler fails with probability < 2e-4; a wrong temperature, k or p
    # moves some frequency by >= 0.05 (> 3 tolerances).
    tolerance = 4.5 * np.sqrt(q * (1 - q) / n)
    assert np.all(np.abs(frequency - q) <= tolerance), (frequency.round(4), q.round(4))
    assert np.all(counts[q == 0] == 0)


def test_seeded_sampling_is_reproducible():
    step = MarkovStep(random_chain(20, seed=4, concentration=5.0))
    run = lambda seed: generate(step, [[1], [2, 3]], 30, "random", seed=seed)  # noqa: E731
    assert run(11) == run(11)
    assert run(11) != run(12)
    top_p = generate(step, [[1]], 30, "top_p", p=0.9, seed=11)
    assert top_p == generate(step, [[1]], 30, "top_p", p=0.9, seed=11)


def test_the_loop_stops_when_every_sequence_has_ended():
    probabilities = chain({1: {2: 1.0}, 2: {3: 1.0}, 3: {4: 1.0}, 4: {1: 1.0}})
    step = MarkovStep(probabilities)
    out = generate(step, [[1], [3, 4, 1]], 50, "greedy", end_token=3)
    assert out == [[1, 2, 3], [3, 4, 1, 2, 3]]
    # prefix (shortest prompt - 1 = 0 steps) + positions 0..3 of the longer sequence.
    assert int(step.calls.numpy()) == 4
    step.calls.assign(0)
    assert generate(step, [[1]], 50, "beam", end_token=3, num_beams=2) == [[1, 2, 3]]
    assert int(step.calls.numpy()) < 10  # without the early stop: 49 steps


def test_argument_validation():
    for make in (
        lambda: TopKSampler(0),
        lambda: TopKSampler(2.5),
        lambda: TopPSampler(0.0),
        lambda: TopPSampler(1.5),
        lambda: RandomSampler(temperature=0.0),
        lambda: GreedySampler(temperature=-1),
        lambda: BeamSampler(0),
        lambda: BeamSampler(2, length_penalty=-1.0),
    ):
        with pytest.raises(ValueError):
            make()
    with pytest.raises(ValueError, match="beam, greedy, random, top_k, top_p"):
        get_sampler("nucleus")
    with pytest.raises(ValueError, match="bad arguments"):
        get_sampler("greedy", k=3)
    with pytest.raises(ValueError, match="exceeds the vocabulary"):
        generate(MarkovStep(TRAP), [[1]], 3, "top_k", k=50)


def test_registry_and_config_round_trip():
    assert available_samplers() == ["beam", "greedy", "random", "top_k", "top_p"]
    for sampler in (
        TopKSampler(4, temperature=0.7),
        TopPSampler(0.8, k=10),
        BeamSampler(3, length_penalty=0.6, return_all_beams=True),
        GreedySampler(),
        RandomSampler(1.3),
    ):
        clone = get_sampler(serialize_sampler(sampler))
        assert type(clone) is type(sampler) and clone.get_config() == sampler.get_config()
    assert isinstance(get_sampler("TOP_P", p=0.5), TopPSampler)
