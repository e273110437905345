"""The offline demo: a character language model trained briefly with every registered layer.

The default corpus is the Python documentation that ships with every CPython
(`pydoc_data.topics`), so the demo needs no download. For each recurrent layer in the registry
it trains Embedding -> layer -> Dense for a fixed number of steps, then prints the validation
bits per character and the training throughput beside keras.layers.LSTM's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import keras
import numpy as np

from lstm_zoo.layers.registry import available_recurrent_layers, recurrent_layer


def default_corpus():
    """The text of `pydoc_data.topics` (CPython's own help topics), joined in key order."""
    from pydoc_data import topics

    return "\n".join(topics.topics[key] for key in sorted(topics.topics))


def read_corpus(path):
    """A user's UTF-8 text file; errors name the file."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})") from None
    if len(text) < 1000:
        raise ValueError(f"{path}: {len(text)} characters; the demo needs at least 1000")
    return text


@dataclass
class DemoResult:
    layer: str
    validation_bits_per_char: float
    initial_bits_per_char: float
    train_tokens_per_s: float
    seconds: float


def _windows(ids, steps, batch):
    """Non-overlapping [n, steps + 1] windows of a contiguous id stream."""
    count = (len(ids) - 1) // steps
    starts = np.arange(count) * steps
    windows = np.stack([ids[s : s + steps + 1] for s in starts])
    return windows[: len(windows) // batch * batch]


def run_demo(
    text=None, layers=None, train_steps=120, units=128, steps=64, batch=32, seed=0, log=print
):
    """Train a character LM with each layer; returns a list of `DemoResult`."""
    text = default_corpus() if text is None else text
    vocabulary = sorted(set(text))
    index = {ch: i for i, ch in enumerate(vocabulary)}
    ids = np.array([index[ch] for ch in text], dtype="int32")
    split = int(len(ids) * 0.9)
    train, valid = _windows(ids[:split], steps, batch), _windows(ids[split:], steps, batch)
    if len(train) == 0 or len(valid) == 0:
        raise ValueError("the corpus is too short for one training and one validation batch")
    log(
        f"corpus: {len(text):,} characters, {len(vocabulary)} symbols; "
        f"{len(train)} training windows of {steps}"
    )
    results = []
    for name in layers or available_recurrent_layers():
        keras.utils.set_random_seed(seed)
        model = keras.Sequential(
            [
                keras.Input((steps,), dtype="int32"),
                keras.layers.Embedding(len(vocabulary), 32),
                recurrent_layer(name, units, return_sequences=True),
                keras.layers.Dense(len(vocabulary)),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.Adam(3e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        initial = model.evaluate(valid[:, :-1], valid[:, 1:], batch_size=batch, verbose=0)
        order = np.random.RandomState(seed).permutation(len(train))
        picks = np.resize(order, train_steps * batch)
        x, y = train[picks, :-1], train[picks, 1:]
        model.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)  # compile
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
        seconds = time.perf_counter() - start
        loss = model.evaluate(valid[:, :-1], valid[:, 1:], batch_size=batch, verbose=0)
        result = DemoResult(
            name, loss / np.log(2), initial / np.log(2), len(x) * steps / seconds, seconds
        )
        log(
            f"  {name:>10}: validation {result.initial_bits_per_char:.2f} -> "
            f"{result.validation_bits_per_char:.2f} bits/char, "
            f"{result.train_tokens_per_s:,.0f} train tokens/s"
        )
        results.append(result)
    return results


def format_results(results, baseline="lstm"):
    """A markdown table of the demo results, throughput as a ratio to `baseline`."""
    base = next((r for r in results if r.layer == baseline), results[0])
    lines = [
        "| layer | validation bits/char | train tokens/s | vs keras LSTM |",
        "|---|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.layer} | {r.validation_bits_per_char:.3f} | {r.train_tokens_per_s:,.0f} | "
            f"{r.train_tokens_per_s / base.train_tokens_per_s:.2f}x |"
        )
    return "\n".join(lines)
