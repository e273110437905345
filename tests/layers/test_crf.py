"""The CRF against brute-force enumeration of every tag path on tiny cases."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from lstm_zoo.layers.crf import CRF, crf_log_likelihood, crf_log_partition, viterbi_decode

rng = np.random.RandomState(0)
NUM_TAGS, STEPS = 3, 4
EMISSIONS = rng.normal(size=(3, STEPS, NUM_TAGS))
TRANSITIONS = rng.normal(size=(NUM_TAGS, NUM_TAGS))
START, END = rng.normal(size=NUM_TAGS), rng.normal(size=NUM_TAGS)
LENGTHS = [4, 2, 1]
MASK = np.arange(STEPS)[None, :] < np.array(LENGTHS)[:, None]


def _score(emissions, path):
    score = START[path[0]] + END[path[-1]] + sum(emissions[t, y] for t, y in enumerate(path))
    return score + sum(TRANSITIONS[a, b] for a, b in zip(path[:-1], path[1:]))


def _brute_force(b):
    paths = list(itertools.product(range(NUM_TAGS), repeat=LENGTHS[b]))
    scores = np.array([_score(EMISSIONS[b], p) for p in paths])
    return paths, scores


def _args():
    return [tf.constant(a) for a in (TRANSITIONS, START, END)]


def test_partition_and_likelihood_match_enumeration():
    log_z = crf_log_partition(tf.constant(EMISSIONS), tf.constant(MASK), *_args()).numpy()
    tags = rng.randint(NUM_TAGS, size=(3, STEPS))
    log_p = crf_log_likelihood(tf.constant(EMISSIONS), tags, tf.constant(MASK), *_args()).numpy()
    for b in range(3):
        paths, scores = _brute_force(b)
        expected_z = np.log(np.exp(scores).sum())
        assert log_z[b] == pytest.approx(expected_z, rel=1e-10)
        path = tuple(tags[b, : LENGTHS[b]])
        assert log_p[b] == pytest.approx(_score(EMISSIONS[b], path) - expected_z, rel=1e-10)


def test_viterbi_finds_the_best_path_and_zeros_padding():
    decoded = viterbi_decode(tf.constant(EMISSIONS), tf.constant(MASK), *_args()).numpy()
    for b in range(3):
        paths, scores = _brute_force(b)
        assert tuple(decoded[b, : LENGTHS[b]]) == paths[int(np.argmax(scores))]
        assert (decoded[b, LENGTHS[b] :] == 0).all()


def test_layer_compiles_under_xla_and_agrees():
    layer = CRF(NUM_TAGS, dtype="float64")
    layer.build((None, None, NUM_TAGS))
    layer.set_weights([TRANSITIONS, START, END])
    eager = layer(tf.constant(EMISSIONS), mask=tf.constant(MASK)).numpy()
    compiled = tf.function(lambda e, m: layer(e, mask=m), jit_compile=True)
    np.testing.assert_array_equal(compiled(tf.constant(EMISSIONS), tf.constant(MASK)), eager)
    assert CRF.from_config(layer.get_config()).num_tags == NUM_TAGS


def test_tag_ids_outside_the_tag_set_are_an_error_at_real_steps_only():
    import numpy as np
    import pytest
    import tensorflow as tf

    from lstm_zoo.layers.crf import CRF

    crf = CRF(3, name="crf")
    emissions = tf.constant(np.random.RandomState(0).normal(size=(2, 4, 3)), tf.float32)
    crf(emissions)
    mask = tf.constant([[True, True, True, False], [True, True, False, False]])
    padded = tf.constant([[0, 2, 1, 99], [1, 1, -5, 7]])  # out of range only where masked
    assert np.all(np.isfinite(crf.log_likelihood(emissions, padded, mask).numpy()))
    for bad in ([[0, 3, 1, 0], [1, 1, 0, 0]], [[0, 1, 1, 0], [-1, 1, 0, 0]]):
        with pytest.raises(tf.errors.InvalidArgumentError, match=r"crf: a tag id outside \[0, 3\)"):
            crf.log_likelihood(emissions, tf.constant(bad), mask)
