import numpy as np
import pytest
import tensorflow as tf

from lstm_zoo.generation import topk


@pytest.mark.parametrize(
    "n, k, block", [(10000, 5, None), (1003, 7, None), (97, 1, 10), (64, 3, 4)]
)
def test_blocked_top_k_equals_tf_top_k_ties_included(n, k, block):
    rng = np.random.RandomState(n)
    # Few distinct values: many ties, which must go to the lowest index as in tf.math.top_k.
    values = rng.randint(0, 6, size=(9, n)).astype("float32")
    values[0, :] = -np.inf
    values[0, 5] = 1.0
    values[1] = rng.normal(size=n)
    values[2, : n // 2] = -np.inf
    expected = tf.math.top_k(values, k)
    for function in (topk.top_k, tf.function(topk.top_k, jit_compile=True)):
        got = function(tf.constant(values), k, block)
        np.testing.assert_array_equal(got[1], expected[1])
        np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(topk.argmax(tf.constant(values), block), values.argmax(-1))
