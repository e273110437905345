"""Generation with real language models: the carried states against full forward passes."""

import os
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from lstm_zoo.data import Vocabulary
from lstm_zoo.generation import (
    BeamSampler,
    generate,
    generate_text,
    generate_tokens,
    step_model,
)
from lstm_zoo.models import language_model
from tests.helpers import zoo_cell_names

CELLS = ["lstm", "gru", *zoo_cell_names()]
PROMPTS = [[1, 2, 3], [4], [5, 6, 7, 8, 9]]


def tiny(cell="zoo_lstm", vocab=20, **kwargs):
    keras.utils.set_random_seed(7)
    kwargs = {"units": 8, "num_layers": 2, "embedding_dim": 6, "init_scale": 0.6, **kwargs}
    return language_model(vocab, cell=cell, **kwargs)


def assert_greedy_matches_full_model(model, sequences, prompts):
    """Each generated token is the argmax (padding excluded) of the full model's logits on the
    sequence so far: one causal forward pass over the output gives all of them."""
    tokens = np.array(sequences, "int32")
    logits = keras.ops.convert_to_numpy(model(tokens[:, :-1]))
    logits[..., 0] = -np.inf
    for row, prompt in enumerate(prompts):
        expected = logits[row, len(prompt) - 1 :].argmax(-1)
        np.testing.assert_array_equal(tokens[row, len(prompt) :], expected)


@pytest.mark.parametrize("cell", CELLS)
def test_greedy_equals_argmax_of_the_full_model_for_every_cell(cell):
    model = tiny(cell, dropout=0.3)  # dropout is off in generation, as in inference
    out = generate(model, PROMPTS, 10)
    assert [len(s) for s in out] == [10, 10, 10]
    assert [s[: len(p)] for s, p in zip(out, PROMPTS)] == PROMPTS
    assert_greedy_matches_full_model(model, out, PROMPTS)


def test_tied_embeddings_with_projection():
    model = tiny("coupled", tie_embeddings=True, embedding_dim=5)
    out = generate(model, PROMPTS, 9)
    assert_greedy_matches_full_model(model, out, PROMPTS)


def test_stateful_fixed_batch_model_generates_at_any_batch():
    plain = tiny("zoo_lstm")
    stateful = tiny("zoo_lstm", batch_size=2, num_steps=4, stateful=True)
    stateful.set_weights(plain.get_weights())
    stateful.predict_on_batch(np.ones((2, 4), "int32"))  # stored states: not used
    out = generate(stateful, PROMPTS, 9)
    assert out == generate(plain, PROMPTS, 9)


@pytest.mark.parametrize(
    "sampler, kwargs",
    [
        ("greedy", {}),
        ("beam", {"num_beams": 3, "length_penalty": 0.6}),
        ("top_p", {"p": 0.8, "k": 6, "seed": 3}),
    ],
)
def test_xla_and_plain_graph_give_the_same_tokens(sampler, kwargs):
    model = tiny("zoo_gru")
    plain = generate(model, PROMPTS, 12, sampler, end_token=5, **kwargs)
    xla = generate(model, PROMPTS, 12, sampler, end_token=5, jit_compile=True, **kwargs)
    assert plain == xla


@pytest.mark.parametrize("sampler", ["greedy", BeamSampler(3, return_all_beams=True)])
def test_prompts_of_different_lengths_continue_as_they_do_alone(sampler):
    model = tiny("peephole")
    batched = generate(model, PROMPTS, 11, sampler, end_token=3)
    alone = [generate(model, [p], 11, sampler, end_token=3) for p in PROMPTS]
    if isinstance(batched, tuple):
        np.testing.assert_allclose(batched[1], np.concatenate([a[1] for a in alone]), rtol=1e-5)
        batched, alone = batched[0], [a[0] for a in alone]
    assert batched == [a[0] for a in alone]


def test_end_token_stops_a_sequence_and_pads_it():
    model = tiny("lstm", vocab=6, init_scale=1.5)
    prompts = [[1], [2, 3], [4, 4, 4]]
    plain = generate(model, prompts, 40, "random", seed=0)
    end = plain[0][3]  # a token this model does emit
    out = generate(model, prompts, 40, "random", end_token=end, seed=0)
    result = generate_tokens(model, *_padded(prompts, 40), 40, "random", end, seed=0)
    tokens, lengths = result["tokens"].numpy(), result["lengths"].numpy()
    for row, (sequence, prompt) in enumerate(zip(out, prompts)):
        generated = sequence[len(prompt) :]
        assert end not in generated[:-1]
        assert generated[-1] == end or len(sequence) == 40
        assert lengths[row] == len(sequence) and np.all(tokens[row, len(sequence) :] == 0)
        # Before the end token, the same draws as without one.
        assert sequence == plain[row][: len(sequence)]


def _padded(prompts, width):
    ids = np.zeros((len(prompts), width), "int32")
    for row, prompt in enumerate(prompts):
        ids[row, : len(prompt)] = prompt
    return ids, np.array([len(p) for p in prompts], "int32")


def test_prompt_validation():
    model = tiny()
    for prompts, match in (
        ([[]], "non-empty"),
        ([[1, 0, 2]], "padding or outside"),
        ([[1, 20]], "padding or outside"),
        ([list(range(1, 8))], "max_length is 5"),
        ([1, 2], "a batch"),
    ):
        with pytest.raises(ValueError, match=match):
            generate(model, prompts, 5)
    with pytest.raises(ValueError, match="end_token"):
        generate(model, [[1]], 5, end_token=0)
    with pytest.raises(ValueError, match="Unknown sampler"):
        generate(model, [[1]], 5, "nucleus")
    with pytest.raises(ValueError, match="no layer named 'token_embedding'"):
        step_model(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))


def test_ragged_and_padded_array_prompts():
    model = tiny()
    expected = generate(model, PROMPTS, 8)
    assert generate(model, tf.ragged.constant(PROMPTS), 8) == expected
    assert generate(model, _padded(PROMPTS, 6)[0], 8) == expected


def test_generate_text_word_and_char_levels():
    words = Vocabulary(["<pad>", "<unk>", "<eos>"] + [f"w{i}" for i in range(17)])
    model = tiny(vocab=len(words))
    texts = generate_text(model, words, ["w1 w2", "w3 nope"], 6, end_token="<eos>")
    assert texts[0].startswith("w1 w2") and texts[1].startswith("w3 <unk>")
    ids = generate(model, [[4, 5], [6, 1]], 6, end_token=2)
    for text, sequence in zip(texts, ids):
        sequence = sequence[:-1] if sequence[-1] == 2 else sequence
        assert text == " ".join(words.decode(sequence))
    chars = Vocabulary(list("abcdefghij \n"))  # <pad>, <unk> put first
    char_model = tiny(vocab=len(chars))
    (text,) = generate_text(char_model, chars, ["ab c"], 9, level="char", sampler="top_k", k=2)
    assert text.startswith("ab c") and len(text) == 9
    # Characters outside the vocabulary read as <unk> (id 1), as the task models read them.
    (unknown,) = generate_text(char_model, chars, ["xa"], 4, level="char")
    assert unknown.startswith("<unk>a")
    assert unknown == "".join(chars.decode(generate(char_model, [[1, 2]], 4)[0]))
    with pytest.raises(ValueError, match="has 20 ids"):
        generate_text(model, chars, ["ab"], 9, level="char")


def test_generate_tokens_in_a_saved_model_with_string_inputs():
    """The export path: strings -> ids with TF ops, generate_tokens inside a signature."""
    words = Vocabulary(["<pad>", "<unk>", "<eos>"] + [f"w{i}" for i in range(17)])
    model = tiny(vocab=len(words))
    step = step_model(model)
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(words.tokens, tf.range(len(words), dtype=tf.int64)),
        default_value=words.index["<unk>"],
    )

    class Generator(tf.Module):
        def __init__(self):
            self.table, self.model = table, model

        @tf.function(
            input_signature=[tf.TensorSpec([None], tf.string), tf.TensorSpec([2], tf.int64)]
        )
        def __call__(self, prompts, seed):
            ragged = self.table.lookup(tf.strings.split(prompts))
            ids = tf.cast(ragged.to_tensor(), tf.int32)
            lengths = tf.cast(ragged.row_lengths(), tf.int32)
            out = generate_tokens(step, ids, lengths, 8, "top_k", end_token=2, seed=seed)
            return out

    module = Generator()
    prompts = tf.constant(["w1 w2 w3", "w4 nope"])
    seed = tf.constant([0, 9], tf.int64)
    direct = module(prompts, seed)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "generator")
        tf.saved_model.save(module, path)
        del module
        loaded = tf.saved_model.load(path)
        served = loaded(prompts, seed)
    np.testing.assert_array_equal(served["tokens"].numpy(), direct["tokens"].numpy())
    expected = generate(model, [[4, 5, 6], [7, 1]], 8, "top_k", end_token=2, seed=9)
    got = [row[:n].tolist() for row, n in zip(direct["tokens"].numpy(), direct["lengths"])]
    assert got == expected


def test_padding_token_leaves_the_states_unchanged():
    step = step_model(tiny("zoo_gru"))
    states = step.advance(tf.constant([3, 4]), step.initial_states(2))
    after = step.advance(tf.constant([0, 5]), states)
    np.testing.assert_array_equal(after[0][0][0], states[0][0][0])
    np.testing.assert_array_equal(after[1][0][0], states[1][0][0])
    assert not np.allclose(after[1][0][1], states[1][0][1])
