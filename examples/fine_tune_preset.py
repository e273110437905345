"""Fine-tune a bundled preset on your own tf.data pipeline of raw text, then save and export it.

The SST-2 sentence classifier (`sst2-bilstm`, bundled: loads offline) is fine-tuned on movie
reviews of another domain (IMDB: whole reviews, not sentences) read from a CSV of
`text,label` rows; the pipeline is plain `tf.data` over raw strings, as a user writes it.

    python examples/fine_tune_preset.py [--train 2000] [--test 1000] [--output runs/imdb-ft]

(the IMDB files come from `$LSTM_ZOO_DATA/imdb` or `../shared/data/imdb`; pass `--train-csv` and
`--test-csv` for your own files with the preset's labels, "negative"/"positive" or 0/1).
"""

from __future__ import annotations

import argparse

import numpy as np
import tensorflow as tf

from lstm_zoo.data import dataset_path
from lstm_zoo.data.classification import read_text_label_csv
from lstm_zoo.models import TextClassifier
from lstm_zoo.presets import save_to_preset


def reviews(path, count, seed=0):
    """`count` seeded (text, label) rows of a text,label CSV."""
    texts, labels = read_text_label_csv(path)
    rows = np.random.RandomState(seed).permutation(len(texts))[:count]
    return [texts[i] for i in rows], np.asarray(labels, np.int32)[rows]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-csv", default=None, help="default: the shared IMDB train split")
    parser.add_argument("--test-csv", default=None, help="default: the shared IMDB test split")
    parser.add_argument("--train", type=int, default=2000, help="training reviews (seeded)")
    parser.add_argument("--test", type=int, default=1000, help="test reviews (seeded)")
    parser.add_argument("--output", default="runs/imdb-fine-tuned")
    args = parser.parse_args(argv)
    train_csv = args.train_csv or dataset_path("imdb", "imdb_train.csv.gz")
    test_csv = args.test_csv or dataset_path("imdb", "imdb_test.csv.gz")

    model = TextClassifier.from_preset("sst2-bilstm")  # vocabulary, tokenizer, encoder, head
    train_texts, train_labels = reviews(train_csv, args.train)
    test_texts, test_labels = reviews(test_csv, args.test)
    train = tf.data.Dataset.from_tensor_slices((train_texts, train_labels)).shuffle(4096).batch(32)
    test = tf.data.Dataset.from_tensor_slices((test_texts, test_labels)).batch(64)

    before = model.evaluate(test, verbose=0, return_dict=True)["binary_accuracy"]
    model.compile_default(learning_rate=2e-3)
    model.fit(train, epochs=1, verbose=2)
    after = model.evaluate(test, verbose=0, return_dict=True)["binary_accuracy"]
    print(f"test accuracy on {len(test_texts):,} reviews: {before:.4f} before, {after:.4f} after")
    print(model.predict_labels(["A wonderful, moving film.", "Two hours I will never get back."]))

    save_to_preset(model, f"{args.output}/preset")  # TextClassifier.from_preset(that path)
    model.export(f"{args.output}/saved_model")  # a raw-string `classify` signature
    print(f"wrote {args.output}/preset and {args.output}/saved_model")


if __name__ == "__main__":
    main()
