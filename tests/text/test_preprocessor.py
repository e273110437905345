"""TextPreprocessor: in-graph ids equal the Python ids; config and .keras round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_zoo.text import TextPreprocessor, Vocabulary

_VOCABULARY = Vocabulary(["a", "b", "σασ", "straße", "é", "x\u200by"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    words=st.lists(
        st.lists(st.sampled_from(["A", "b", "ΣΑΣ", "STRASSE", "Straße", "É", "x\u200bY", "q"])),
        min_size=1,
        max_size=4,
    ),
    separators=st.sampled_from([" ", "\u3000", "\t\n", "\x85 ", "\u2029"]),
)
def test_graph_and_python_ids_agree(words, separators):
    texts = [separators.join(w) for w in words]
    for lowercase in (False, True):
        pre = TextPreprocessor(_VOCABULARY, lowercase=lowercase)
        expected = pre.encode(texts)
        got = pre(tf.constant(texts)).numpy()
        width = max((len(e) for e in expected), default=0)
        assert got.shape == (len(texts), width)
        assert [row[: len(e)].tolist() for row, e in zip(got, expected)] == expected
        assert all((row[len(e) :] == 0).all() for row, e in zip(got, expected))
        padded = tf.ragged.constant(words, dtype=tf.string).to_tensor("")
        if padded.shape.rank == 2:
            by_words = pre(padded).numpy()
            assert [r[: len(w)].tolist() for r, w in zip(by_words, words)] == pre.encode_words(
                words
            )


def test_char_level():
    pre = TextPreprocessor(["h", "i", " ", "\n"], level="char")
    assert pre(tf.constant(["hi h\n", "ih"])).numpy().tolist() == [[2, 3, 4, 2, 5], [3, 2, 0, 0, 0]]
    assert pre.encode(["hi h\n"]) == [[2, 3, 4, 2, 5]]


def test_in_tf_data_and_keras_round_trip(tmp_path):
    pre = TextPreprocessor(_VOCABULARY, lowercase=True, name="preprocessor")
    data = tf.data.Dataset.from_tensor_slices(["a b", "ΣΑΣ q"]).batch(2).map(pre)
    assert next(iter(data)).numpy().tolist() == [[2, 3], [4, 1]]
    clone = TextPreprocessor.from_config(pre.get_config())
    assert clone.vocabulary == pre.vocabulary and clone.lowercase
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, keras.layers.Embedding(len(_VOCABULARY), 2)(pre(inputs)))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    texts = tf.constant(["a straße", "é"])
    np.testing.assert_array_equal(model(texts), loaded(texts))


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"characters": ["<pad>", "<unk>", "a", "b", "a"]}, r"'a' appears twice \(ids 2 and 4\)"),
        ({"characters": ["<unk>", "<pad>", "a"]}, 'characters must start with "<pad>", "<unk>"'),
        ({"characters": ["<pad>", "<unk>", "a"], "level": "char"}, 'characters need level="word"'),
        ({"lowercase": "yes"}, "lowercase must be a bool"),
    ],
)
def test_bad_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        TextPreprocessor(Vocabulary(["a", "b"]), **arguments)
