import keras
import numpy as np
import pytest

from lstm_zoo.data.tagging import pad
from lstm_zoo.models.spans import span_f1, spans
from lstm_zoo.models.tagger import compile_tagger, sequence_tagger


@pytest.mark.parametrize("cell", ["lstm", "zoo_lstm", "peephole", "coupled", "gru", "zoo_gru"])
def test_tagger_learns_a_context_dependent_tag_with_every_cell(cell):
    """Tag 1 iff the previous word is 2 (needs the forward direction), tag 2 iff the next word
    is 3 (needs the backward direction), else tag 0."""
    keras.utils.set_random_seed(0)
    rng = np.random.RandomState(0)
    sentences = [rng.randint(2, 6, size=rng.randint(2, 8)).tolist() for _ in range(96)]
    tags = []
    for s in sentences:
        t = [0] * len(s)
        for i in range(len(s)):
            if i > 0 and s[i - 1] == 2:
                t[i] = 1
            elif i + 1 < len(s) and s[i + 1] == 3:
                t[i] = 2
        tags.append(t)
    model = compile_tagger(
        sequence_tagger(3, vocab_size=6, embedding_dim=8, cell=cell, units=8), 0.03
    )
    history = model.fit(pad(sentences), pad(tags), epochs=15, batch_size=16, verbose=0)
    assert history.history["sparse_categorical_accuracy"][-1] > 0.95


def test_loss_and_accuracy_ignore_padding():
    keras.utils.set_random_seed(1)
    model = compile_tagger(sequence_tagger(3, vocab_size=6, embedding_dim=4, units=3))
    x, y = np.array([[2, 3, 4]]), np.array([[1, 2, 0]])
    plain = model.evaluate(x, y, verbose=0, return_dict=True)
    padded = model.evaluate(
        pad([[2, 3, 4, 0, 0]]), pad([[1, 2, 0, 2, 2]]), verbose=0, return_dict=True
    )
    assert padded["loss"] == pytest.approx(plain["loss"], rel=1e-5)
    assert padded["sparse_categorical_accuracy"] == pytest.approx(
        plain["sparse_categorical_accuracy"], rel=1e-6
    )


@pytest.mark.parametrize(
    "tags, expected",
    [
        (["B-PER", "I-PER", "O", "B-LOC"], {("PER", 0, 1), ("LOC", 3, 3)}),
        (["I-PER", "I-PER", "B-PER", "I-LOC"], {("PER", 0, 1), ("PER", 2, 2), ("LOC", 3, 3)}),
        (
            ["S-PER", "B-LOC", "I-LOC", "E-LOC", "E-LOC"],
            {("PER", 0, 0), ("LOC", 1, 3), ("LOC", 4, 4)},
        ),
        (["O", "I-ORG", "O"], {("ORG", 1, 1)}),
    ],
    ids=["bio", "iob1", "bioes", "stray-I"],
)
def test_spans_follow_conlleval(tags, expected):
    assert spans(tags) == expected


def test_span_f1_counts_exact_matches_only():
    truth = [["B-PER", "I-PER", "O", "B-LOC"]]
    guess = [["B-PER", "O", "O", "B-LOC"]]
    scores = span_f1(truth, guess)
    assert scores["precision"] == 0.5 and scores["recall"] == 0.5 and scores["f1"] == 0.5
    with pytest.raises(ValueError, match="sentence 0: 4 true tags, 3 predicted"):
        span_f1(truth, [["O", "O", "O"]])
    with pytest.raises(ValueError, match="not B-/I-/E-/S-/O"):
        spans(["X-PER"])


def test_crf_tagger_learns_transitions_and_saves_with_safe_mode(tmp_path):
    """Tags alternate 1, 2, 1, 2 ... whatever the words: the CRF's transitions must learn it."""
    from lstm_zoo.models.tagger import token_accuracy

    keras.utils.set_random_seed(2)
    rng = np.random.RandomState(2)
    sentences = [rng.randint(2, 6, size=rng.randint(2, 9)).tolist() for _ in range(64)]
    tags = [[1 + (i % 2) for i in range(len(s))] for s in sentences]
    x, y = pad(sentences), pad(tags)
    model = compile_tagger(
        sequence_tagger(3, vocab_size=6, embedding_dim=4, units=4, crf=True, cell="zoo_lstm"),
        0.05,
    )
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
    predicted = model.predict_tags(x, verbose=0)
    assert token_accuracy(y, predicted, x) > 0.97
    assert (predicted[x == 0] == 0).all()
    path = tmp_path / "crf.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict_tags(x, verbose=0), predicted)
