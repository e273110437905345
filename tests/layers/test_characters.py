"""CharacterEncoder against the same Bidirectional run on each word alone, without padding."""

import keras
import numpy as np
import pytest

from lstm_zoo.layers.characters import CharacterEncoder, WordFeatures


def _char_ids(lengths, width, vocab_size, seed=0):
    """[batch, time, width] ids: word (b, t) has lengths[b][t] characters in 2..vocab-1."""
    rng = np.random.RandomState(seed)
    out = np.zeros((len(lengths), max(len(r) for r in lengths), width), np.int32)
    for b, row in enumerate(lengths):
        for t, n in enumerate(row):
            out[b, t, :n] = rng.randint(2, vocab_size, size=n)
    return out


@pytest.mark.parametrize("cell", ["lstm", "zoo_lstm"])
def test_features_equal_each_word_encoded_alone_and_padding_changes_nothing(cell):
    lengths = [[3, 1, 5], [2, 4]]  # the second sentence has a padding word at t = 2
    chars = _char_ids(lengths, 5, 12)
    encoder = CharacterEncoder(12, embedding_dim=4, units=3, cell=cell)
    features = keras.ops.convert_to_numpy(encoder(chars))
    assert features.shape == (2, 3, 6)
    for b, row in enumerate(lengths):
        for t, n in enumerate(row):
            alone = encoder.encoder(encoder.embedding(chars[b : b + 1, t, :n]))
            np.testing.assert_allclose(features[b, t], keras.ops.convert_to_numpy(alone)[0], 1e-5)
    np.testing.assert_array_equal(features[1, 2], 0.0)  # a padding word: zero features

    # Wider words (more padding characters) and more padding words: the same features.
    wider = np.zeros((2, 5, 9), np.int32)
    wider[:, :3, :5] = chars
    padded = keras.ops.convert_to_numpy(encoder(wider))
    np.testing.assert_allclose(padded[:, :3], features, atol=1e-6)
    np.testing.assert_array_equal(padded[:, 3:], 0.0)


def test_config_round_trip_and_bad_rank():
    encoder = CharacterEncoder(
        10, embedding_dim=3, units=2, cell="gru", recurrent_kwargs={"use_bias": False}, name="c"
    )
    chars = _char_ids([[2, 3]], 3, 10)
    expected = keras.ops.convert_to_numpy(encoder(chars))
    clone = CharacterEncoder.from_config(encoder.get_config())
    clone(chars)
    assert clone.get_config() == encoder.get_config()
    clone.set_weights(encoder.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(clone(chars)), expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"\[batch, time, chars\]"):
        CharacterEncoder(10)(np.ones((2, 3), np.int32))
    with pytest.raises(ValueError, match="vocab_size"):
        CharacterEncoder(2)


def test_word_features_keep_the_first_inputs_mask():
    words = keras.layers.Embedding(5, 2, mask_zero=True)(np.array([[3, 4, 0]]))
    chars = np.ones((1, 3, 4), np.float32)
    concatenated = WordFeatures()([words, chars])
    assert concatenated.shape == (1, 3, 6)
    mask = keras.ops.convert_to_numpy(
        WordFeatures().compute_mask([words, chars], [words._keras_mask, None])
    )
    np.testing.assert_array_equal(mask, [[True, True, False]])


def test_character_ids_outside_the_vocabulary_are_an_error():
    import numpy as np
    import pytest

    from lstm_zoo.layers.characters import CharacterEncoder

    encoder = CharacterEncoder(5, 3, 4)
    with pytest.raises(ValueError, match=r"char_embedding: id 7 at position \[0, 1\].*\[0, 5\)"):
        encoder(np.array([[[2, 7, 0]]]))
    with pytest.raises(ValueError, match=r"id -1"):
        encoder(np.array([[[-1, 2, 0]]]))
