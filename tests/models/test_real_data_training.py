"""Each factory trained briefly on a slice of the real data: the loss falls and the metrics beat
independent baselines (uniform / unigram / chance). Marker `data`; skipped when absent."""

import math
from collections import Counter

import keras
import numpy as np
import pytest

from lstm_zoo.data import Vocabulary, dataset_path, lm_windows, read_lm_tokens
from lstm_zoo.data.classification import (
    build_vocabulary,
    classification_dataset,
    encode_texts,
    read_label_text_lines,
    read_text_label_csv,
)
from lstm_zoo.models import (
    compile_language_model,
    compile_sentiment_classifier,
    language_model,
    sentiment_classifier,
)

pytestmark = pytest.mark.data


def _data(*parts):
    try:
        return dataset_path(*parts)
    except FileNotFoundError as error:
        pytest.skip(f"data absent: {error}")


def _unigram_cross_entropy(train_ids, eval_ids, vocab_size):
    """Nats per token of add-one unigram frequencies of `train_ids` on `eval_ids`."""
    counts = np.bincount(train_ids, minlength=vocab_size)[1:] + 1.0
    log_p = np.log(counts / counts.sum())
    return float(-log_p[np.asarray(eval_ids) - 1].mean())


def _train_lm(stream, vocab_size, batch, steps, units, learning_rate, epochs=1, seed=0):
    keras.utils.set_random_seed(seed)
    model = language_model(vocab_size, cell="zoo_lstm", units=units, num_layers=1)
    compile_language_model(model, optimizer=keras.optimizers.Adam(learning_rate))
    history = model.fit(lm_windows(stream, batch, steps), epochs=epochs, verbose=0)
    return model, history


def test_char_language_model_on_tiny_shakespeare():
    path = _data("tinyshakespeare", "input.txt")
    chars = read_lm_tokens(path, level="char")
    assert len(chars) == 1_115_394  # the whole file: every char, newlines included
    vocab = Vocabulary.build([chars])
    assert len(vocab) == 65 + 2  # 65 symbols + <pad> + <unk>
    assert vocab.decode(vocab.encode(chars[:40])) == chars[:40]
    ids = np.asarray(vocab.encode(chars))
    assert ids.min() == 2  # every char has an id of its own: none reads as <unk>

    train, held_out = ids[:64_000], ids[1_000_000:1_016_000]
    model, history = _train_lm(train, len(vocab), 32, 50, 64, 0.01, epochs=2)
    losses = history.history["loss"]
    first_batch = math.log(len(vocab))  # an untrained model is close to uniform
    unigram = _unigram_cross_entropy(train, held_out, len(vocab))
    held = model.evaluate(lm_windows(held_out, 32, 50), verbose=0, return_dict=True)
    assert losses[-1] < losses[0] < first_batch
    assert held["loss"] < unigram - 0.3, (held, unigram)  # context helps: beats unigram


def test_word_language_model_on_a_ptb_slice():
    folder = _data("ptb")
    train_tokens = read_lm_tokens(folder / "ptb.train.txt.gz")
    # <pad>, <unk> (PTB's own, id 1) and the 1,998 most frequent other words of the whole
    # training text; every rarer word maps to <unk> (a smaller softmax keeps the test short).
    vocab = Vocabulary.build([train_tokens], max_size=2000)
    train = np.asarray(vocab.encode(train_tokens[:40_000]))
    valid = np.asarray(vocab.encode(read_lm_tokens(folder / "ptb.valid.txt")[:6_000]))
    assert valid.min() > 0
    keras.utils.set_random_seed(0)
    model = language_model(len(vocab), cell="zoo_lstm", units=64, num_layers=1)
    compile_language_model(model, optimizer=keras.optimizers.Adam(0.02))
    windows = lm_windows(valid, 20, 30)
    before = model.evaluate(windows, verbose=0, return_dict=True)["perplexity"]
    history = model.fit(lm_windows(train, 20, 30), epochs=2, verbose=0)
    after = model.evaluate(windows, verbose=0, return_dict=True)["perplexity"]
    unigram = math.exp(_unigram_cross_entropy(train, valid, len(vocab)))
    assert before > 0.9 * (len(vocab) - 1)  # about uniform at the start
    assert history.history["loss"][-1] < history.history["loss"][0] < math.log(len(vocab))
    assert after < unigram, (before, after, unigram)  # below the unigram perplexity


def test_sentiment_classifier_on_an_sst2_slice_with_glove():
    from lstm_zoo.embeddings import load_embeddings

    folder = _data("sst2")
    glove = _data("glove", "glove.6B.50d.txt.gz")
    texts, labels = read_label_text_lines(folder / "stsa.binary.train")
    dev_texts, dev_labels = read_label_text_lines(folder / "stsa.binary.dev")
    texts, labels = texts[:3000], labels[:3000]
    vocabulary = build_vocabulary(texts)
    matrix, report = load_embeddings(glove, vocabulary, reserved=2)
    assert report.coverage > 0.9
    keras.utils.set_random_seed(0)
    buckets = {"bucket_boundaries": [12, 20, 30]}
    train = classification_dataset(
        encode_texts(texts, vocabulary), labels, 32, shuffle=True, **buckets
    )
    dev = classification_dataset(encode_texts(dev_texts, vocabulary), dev_labels, 64, **buckets)
    model = sentiment_classifier(embeddings=matrix, cell="lstm", units=32)
    compile_sentiment_classifier(model, 3e-3)
    history = model.fit(train, epochs=2, verbose=0)
    accuracy = model.evaluate(dev, verbose=0, return_dict=True)["binary_accuracy"]
    majority = max(dev_labels.mean(), 1 - dev_labels.mean())
    assert history.history["loss"][-1] < history.history["loss"][0] < math.log(2) + 0.05
    assert accuracy > majority + 0.1, (accuracy, majority)


def test_sentiment_classifier_on_an_imdb_slice_from_the_csv():
    folder = _data("imdb")
    texts, labels = read_text_label_csv(folder / "imdb_train.csv.gz")
    test_texts, test_labels = read_text_label_csv(folder / "imdb_test.csv.gz")

    def shortest(texts, labels, n):
        """The n shortest reviews (a selection of whole reviews: nothing is cut)."""
        order = np.argsort([len(t.split()) for t in texts], kind="stable")[:n]
        return [texts[i].lower() for i in order], labels[order]

    texts, labels = shortest(texts, labels, 2500)
    test_texts, test_labels = shortest(test_texts, test_labels, 1000)
    vocabulary = build_vocabulary(texts, min_count=2)
    keras.utils.set_random_seed(0)
    buckets = {"bucket_boundaries": [40, 60, 80]}
    train = classification_dataset(
        encode_texts(texts, vocabulary), labels, 32, shuffle=True, **buckets
    )
    test = classification_dataset(encode_texts(test_texts, vocabulary), test_labels, 64, **buckets)
    model = sentiment_classifier(
        vocab_size=len(vocabulary), embedding_dim=32, cell="lstm", units=32, pooling="mean"
    )
    compile_sentiment_classifier(model, 3e-3)
    history = model.fit(train, epochs=2, verbose=0)
    accuracy = model.evaluate(test, verbose=0, return_dict=True)["binary_accuracy"]
    majority = max(test_labels.mean(), 1 - test_labels.mean())
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert accuracy > majority + 0.1, (accuracy, majority, Counter(test_labels.tolist()))
