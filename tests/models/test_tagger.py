import keras
import numpy as np
import pytest

from lstm_zoo.data.tagging import pad
from lstm_zoo.models.spans import span_f1, spans
from lstm_zoo.models.tagger import compile_tagger, sequence_tagger
from tests.helpers import zoo_cell_names


@pytest.mark.parametrize("cell", ["lstm", "gru", *zoo_cell_names()])
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


# ---------------------------------------------------------------- character features

SUFFIXES = {"ing": 0, "ed": 1, "ly": 2}  # the tag of a word is its suffix's


def _suffix_sentences(count, seed):
    """Sentences of stem + suffix words; stems are fresh per seed (unseen words at test)."""
    rng = np.random.RandomState(seed)
    letters = list("abcfhkmoprtuvwz") if seed == 0 else list("dgijlnqsxy")
    sentences = []
    for _ in range(count):
        words, tags = [], []
        for _ in range(rng.randint(2, 6)):
            suffix = list(SUFFIXES)[rng.randint(3)]
            words.append("".join(rng.choice(letters, size=rng.randint(1, 4))) + suffix)
            tags.append(str(SUFFIXES[suffix]))
        sentences.append((words, tags))
    return sentences


def _suffix_task():
    from lstm_zoo.data.tagging import (
        build_character_vocabulary,
        build_tagging_vocabularies,
        encode_characters,
        encode_tagged,
    )

    train, test = _suffix_sentences(96, 0), _suffix_sentences(32, 1)
    words, tags = build_tagging_vocabularies(train)
    characters = build_character_vocabulary(train)

    def arrays(sentences):
        word_ids, tag_ids = encode_tagged(sentences, words, tags)
        char_ids = encode_characters(sentences, characters)
        width = max(len(w) for s in char_ids for w in s)
        chars = np.zeros((len(sentences), max(map(len, word_ids)), width), np.int32)
        for i, sentence in enumerate(char_ids):
            for j, word in enumerate(sentence):
                chars[i, j, : len(word)] = word
        return {"tokens": pad(word_ids), "characters": chars}, pad(tag_ids)

    return words, tags, characters, arrays(train), arrays(test)


def _char_tagger(words, tags, characters, **kwargs):
    return sequence_tagger(
        len(tags),
        vocab_size=len(words),
        embedding_dim=8,
        units=8,
        char_features=True,
        char_vocab_size=len(characters),
        char_embedding_dim=8,
        char_units=8,
        **kwargs,
    )


def test_char_features_tag_unseen_words_that_the_word_model_cannot(tmp_path):
    """Test words are all unseen (word id 1, OOV); only their characters reveal the tag."""
    from lstm_zoo.models.tagger import token_accuracy

    words, tags, characters, (x, y), (x_test, y_test) = _suffix_task()
    assert set(np.unique(x_test["tokens"])) == {0, 1}
    keras.utils.set_random_seed(3)
    char_model = compile_tagger(_char_tagger(words, tags, characters), 0.03)
    char_model.fit(x, y, epochs=12, batch_size=16, verbose=0)
    word_model = compile_tagger(
        sequence_tagger(len(tags), vocab_size=len(words), embedding_dim=8, units=8), 0.03
    )
    word_model.fit(x["tokens"], y, epochs=12, batch_size=16, verbose=0)
    predicted = np.argmax(char_model.predict(x_test, verbose=0), -1)
    char_accuracy = token_accuracy(y_test, predicted, x_test)
    word_accuracy = token_accuracy(
        y_test, np.argmax(word_model.predict(x_test["tokens"], verbose=0), -1), x_test
    )
    assert char_accuracy > 0.9 and word_accuracy < 0.6, (char_accuracy, word_accuracy)

    path = tmp_path / "chars.keras"
    char_model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        loaded.predict(x_test, verbose=0), char_model.predict(x_test, verbose=0), atol=1e-6
    )
    assert (
        loaded.get_layer("char_features").get_config()
        == char_model.get_layer("char_features").get_config()
    )


def test_char_tagger_padding_words_and_characters_change_nothing():
    words, tags, characters, (x, y), _ = _suffix_task()
    x = {k: v[:4] for k, v in x.items()}
    y = y[:4]
    model = _char_tagger(words, tags, characters)
    model.compile(
        loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"], run_eagerly=True
    )  # eager: no tracing for these few calls
    outputs = keras.ops.convert_to_numpy(model(x))
    assert outputs.shape == (*x["tokens"].shape, len(tags))
    wide = {
        "tokens": np.pad(x["tokens"], [(0, 0), (0, 3)]),
        "characters": np.pad(x["characters"], [(0, 0), (0, 3), (0, 4)]),
    }
    real = x["tokens"] != 0
    assert (~real).any()  # the batch already has padding words
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(wide))[:, : real.shape[1]][real], outputs[real], atol=1e-6
    )
    plain = model.evaluate(x, y, verbose=0, return_dict=True)
    wrong_padding = np.pad(np.where(real, y, 2), [(0, 0), (0, 3)], constant_values=2)
    padded = model.evaluate(wide, wrong_padding, verbose=0, return_dict=True)
    assert padded["loss"] == pytest.approx(plain["loss"], rel=1e-5)
    assert padded["accuracy"] == pytest.approx(plain["accuracy"], rel=1e-6)
    with pytest.raises(ValueError, match="char_vocab_size"):
        sequence_tagger(3, vocab_size=5, char_features=True)


def test_char_recurrent_kwargs_reach_the_character_encoder_and_its_config(tmp_path):
    """A clockwork character encoder of 10 units needs periods that split 10 (its default
    (1, 2, 4, 8) does not): they reach the encoder's layer and survive a .keras round trip."""
    model = sequence_tagger(
        4,
        vocab_size=9,
        embedding_dim=4,
        units=4,
        char_features=True,
        char_vocab_size=6,
        char_embedding_dim=3,
        char_units=10,
        char_cell="clockwork",
        char_recurrent_kwargs={"periods": (1, 2)},
    )
    x = {
        "tokens": np.array([[1, 2, 0], [3, 0, 0]]),
        "characters": np.array([[[2, 3], [4, 0], [0, 0]], [[5, 5], [0, 0], [0, 0]]]),
    }
    outputs = keras.ops.convert_to_numpy(model(x))
    encoder = model.get_layer("char_features").encoder.forward_layer
    assert tuple(encoder.cell.periods) == (1, 2)
    path = tmp_path / "clockwork_chars.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loaded(x)), outputs, atol=1e-6)
    with pytest.raises(ValueError, match="periods"):
        sequence_tagger(
            4,
            vocab_size=9,
            char_features=True,
            char_vocab_size=6,
            char_units=10,
            char_cell="clockwork",
        )
    with pytest.raises(ValueError, match="char_recurrent_kwargs must be a dict or None"):
        sequence_tagger(
            4,
            vocab_size=9,
            char_features=True,
            char_vocab_size=6,
            char_recurrent_kwargs=[("periods", (1, 2))],
        )


def test_crf_tagger_with_char_features_learns_and_saves(tmp_path):
    from lstm_zoo.models.tagger import token_accuracy

    words, tags, characters, (x, y), (x_test, y_test) = _suffix_task()
    keras.utils.set_random_seed(4)
    model = compile_tagger(_char_tagger(words, tags, characters, crf=True), 0.03)
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.3 * history.history["loss"][0]
    predicted = model.predict_tags(x_test, verbose=0)
    assert token_accuracy(y_test, predicted, x_test) > 0.9
    assert (predicted[x_test["tokens"] == 0] == 0).all()
    path = tmp_path / "crf_chars.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict_tags(x_test, verbose=0), predicted)


@pytest.mark.data
def test_char_tagger_learns_on_a_slice_of_real_ewt():
    """One short epoch on 300 EWT training sentences: the loss falls and dev accuracy beats
    always answering the most frequent training tag."""
    from collections import Counter

    from lstm_zoo.data import dataset_path
    from lstm_zoo.data.conll import read_conllu
    from lstm_zoo.data.tagging import (
        build_character_vocabulary,
        build_tagging_vocabularies,
        encode_characters,
        encode_tagged,
        tagging_dataset,
    )

    try:
        folder = dataset_path("ud_en_ewt")
    except FileNotFoundError as error:
        pytest.skip(f"UD EWT data absent: {error}")
    train = read_conllu(folder / "en_ewt-ud-train.conllu.gz")[:300]
    dev = read_conllu(folder / "en_ewt-ud-dev.conllu")[:200]
    words, tags = build_tagging_vocabularies(train, lowercase=True)
    characters = build_character_vocabulary(train)

    def dataset(sentences, shuffle):
        word_ids, tag_ids = encode_tagged(sentences, words, tags, lowercase=True)
        char_ids = encode_characters(sentences, characters)
        return tagging_dataset(
            word_ids, tag_ids, 8, shuffle, char_ids=char_ids, bucket_boundaries=[10, 20]
        )

    keras.utils.set_random_seed(5)
    model = compile_tagger(
        _char_tagger(words, tags, characters, cell="lstm", dropout=0.1), learning_rate=0.01
    )
    train_data, dev_data = dataset(train, True), dataset(dev, False)
    before = model.evaluate(train_data, verbose=0, return_dict=True)["loss"]
    model.fit(train_data, epochs=1, verbose=0)
    after = model.evaluate(dev_data, verbose=0, return_dict=True)
    assert model.evaluate(train_data, verbose=0, return_dict=True)["loss"] < 0.8 * before
    counts = Counter(t for _, sentence_tags in train for t in sentence_tags)
    majority = counts.most_common(1)[0][0]
    dev_tags = [t for _, sentence_tags in dev for t in sentence_tags]
    majority_accuracy = sum(t == majority for t in dev_tags) / len(dev_tags)
    assert after["sparse_categorical_accuracy"] > majority_accuracy + 0.15, (
        after,
        majority_accuracy,
    )


def test_token_accuracy_counts_every_real_token_once_across_batch_lengths():
    """Two batches padded to different lengths: the metric equals the plain count."""
    from lstm_zoo.models.tagger import token_accuracy

    keras.utils.set_random_seed(6)
    model = compile_tagger(sequence_tagger(3, vocab_size=6, embedding_dim=4, units=3))
    batches = [
        (pad([[2, 3], [4]]), pad([[1, 2], [0]])),
        (pad([[5, 2, 3, 4, 2, 3]]), pad([[0] * 6])),
    ]
    correct = total = 0
    for x, y in batches:
        predicted = np.argmax(model.predict(x, verbose=0), -1)
        correct += token_accuracy(y, predicted, x) * (x != 0).sum()
        total += (x != 0).sum()
    import tensorflow as tf

    data = tf.data.Dataset.from_generator(
        lambda: iter(batches),
        output_signature=(
            tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([None, None], tf.int32),
        ),
    )
    result = model.evaluate(data, verbose=0, return_dict=True)
    assert result["sparse_categorical_accuracy"] == pytest.approx(correct / total, rel=1e-6)
