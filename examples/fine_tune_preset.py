"""Fine-tune a bundled preset on your own tf.data pipeline of raw text, then save and export it.

The IMDB review classifier (`imdb-bilstm`, bundled: loads offline) is fine-tuned on sentences of
another domain (SST-2: one-sentence snippets of rottentomatoes.com reviews, not whole IMDB
reviews) read from a file of `LABEL text` lines; the pipeline is plain `tf.data` over raw
strings, as a user writes it.

    python examples/fine_tune_preset.py [--train 2000] [--test 1000] [--output runs/sst2-ft]

(the SST-2 files come from `$LSTM_ZOO_DATA/sst2` or `../shared/data/sst2`; pass `--train-file`
and `--test-file` for your own files of `0|1 text` lines).
"""

from __future__ import annotations

import argparse

import numpy as np
import tensorflow as tf

from lstm_zoo.data import dataset_path
from lstm_zoo.data.classification import read_label_text_lines
from lstm_zoo.models import TextClassifier
from lstm_zoo.presets import save_to_preset


def sentences(path, count, seed=0):
    """`count` seeded (text, label) rows of a file of `0|1 text` lines."""
    texts, labels = read_label_text_lines(path)
    rows = np.random.RandomState(seed).permutation(len(texts))[:count]
    return [texts[i] for i in rows], np.asarray(labels, np.int32)[rows]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-file", default=None, help="default: the shared SST-2 train split")
    parser.add_argument("--test-file", default=None, help="default: the shared SST-2 test split")
    parser.add_argument("--train", type=int, default=2000, help="training sentences (seeded)")
    parser.add_argument("--test", type=int, default=1000, help="test sentences (seeded)")
    parser.add_argument("--output", default="runs/sst2-fine-tuned")
    args = parser.parse_args(argv)
    train_file = args.train_file or dataset_path("sst2", "stsa.binary.train")
    test_file = args.test_file or dataset_path("sst2", "stsa.binary.test")

    model = TextClassifier.from_preset("imdb-bilstm")  # vocabulary, tokenizer, encoder, head
    train_texts, train_labels = sentences(train_file, args.train)
    test_texts, test_labels = sentences(test_file, args.test)
    train = tf.data.Dataset.from_tensor_slices((train_texts, train_labels)).shuffle(4096).batch(32)
    test = tf.data.Dataset.from_tensor_slices((test_texts, test_labels)).batch(64)

    before = model.evaluate(test, verbose=0, return_dict=True)["binary_accuracy"]
    model.compile_default(learning_rate=2e-3)
    model.fit(train, epochs=1, verbose=2)
    after = model.evaluate(test, verbose=0, return_dict=True)["binary_accuracy"]
    print(f"test accuracy on {len(test_texts):,} sentences: {before:.4f} before, {after:.4f} after")
    examples = ["a wonderful , moving film .", "two hours i will never get back ."]
    print(model.predict_labels(examples))

    save_to_preset(model, f"{args.output}/preset")  # TextClassifier.from_preset(that path)
    model.export(f"{args.output}/saved_model")  # a raw-string `classify` signature
    print(f"wrote {args.output}/preset and {args.output}/saved_model")


if __name__ == "__main__":
    main()
