"""conlleval span reports for the command line: a tagger's predictions over a data set ->
token accuracy and span precision/recall/F1 (overall and per chunk type), as flat metrics and
as printable lines.

The span rules are `lstm_zoo.models.spans` (conlleval's); this module only gathers the tag
sequences (from a run directory's Keras model or a `SequenceTagger`) and formats the report.

Example:

>>> metrics = span_metrics([["B-PER", "O"]], [["B-PER", "O"]], ["B-PER", "O"])
>>> metrics["span_f1"], metrics["span_f1_PER"]
(1.0, 1.0)
>>> print("\\n".join(format_metrics({"accuracy": 1.0, **metrics})))
accuracy 1.0000, span_precision 1.0000, span_recall 1.0000, span_f1 1.0000
spans (conlleval)   precision    recall        f1
  overall              1.0000    1.0000    1.0000
  PER                  1.0000    1.0000    1.0000
"""

from __future__ import annotations

import re

import keras
import numpy as np

from lstm_zoo.models.spans import chunk_scheme, span_scores

MEASURES = ("precision", "recall", "f1")
_KEY = re.compile(
    r"^(?P<prefix>(?:[a-z]+_)*?)span_(?P<measure>precision|recall|f1)(?:_(?P<kind>.+))?$"
)


def chunk_types(tags):
    """The chunk types of a chunk tag set ("B-PER", "I-PER", "O" -> ["PER"]); [] otherwise."""
    if chunk_scheme(tags) is None:
        return []
    return sorted({t[2:] for t in tags if t not in ("O", "", None)})


def span_metrics(truth, guess, tags, prefix=""):
    """Flat conlleval metrics of tag-name sequences: `span_precision`, `span_recall`,
    `span_f1` and, for every type of the tag set (0.0 where it never occurs),
    `span_precision_<TYPE>`, `span_recall_<TYPE>`, `span_f1_<TYPE>`; {} for a tag set that is
    not a chunk tag set (UPOS).

    Args:
        truth, guess: lists of tag-name lists, one per sentence.
        tags: list of str. The tag set (decides the scheme and the types).
        prefix: str. Put before every key ("val_", "test_").
    """
    scheme = chunk_scheme(tags)
    if scheme is None:
        return {}
    scores = span_scores(truth, guess, scheme)
    flat = {f"{prefix}span_{m}": float(scores[m]) for m in MEASURES}
    zero = dict.fromkeys(MEASURES, 0.0)
    for kind in sorted(set(chunk_types(tags)) | set(scores["per_type"])):
        values = scores["per_type"].get(kind, zero)
        for measure in MEASURES:
            flat[f"{prefix}span_{measure}_{kind}"] = float(values[measure])
    return flat


def token_accuracy(truth, guess):
    """Share of tokens whose predicted tag is right (exact: counted over all sentences)."""
    total = sum(len(t) for t in truth)
    correct = sum(a == b for t, g in zip(truth, guess) for a, b in zip(t, g))
    return correct / max(total, 1)


def predicted_sequences(model, data, tags):
    """(true, predicted) tag-name lists per sentence of a run directory's tagger (a Keras
    functional model, softmax or `CRFTagger`) over `data`: (inputs, tag ids) batches whose
    inputs are word ids or {"tokens", "characters"}; padding (id 0) is left out."""
    truth, guess = [], []
    for inputs, labels in data:
        output = model(inputs, training=False)
        if isinstance(output, dict):  # CRF: the Viterbi path
            predicted = keras.ops.convert_to_numpy(output["tags"])
        else:
            predicted = keras.ops.convert_to_numpy(keras.ops.argmax(output, axis=-1))
        tokens = inputs["tokens"] if isinstance(inputs, dict) else inputs
        tokens, labels = np.asarray(tokens), np.asarray(labels)
        for row, true_row, guess_row in zip(tokens, labels, predicted):
            real = row != 0
            truth.append([tags[int(t)] for t in true_row[real]])
            guess.append([tags[int(t)] for t in guess_row[real]])
    return truth, guess


def is_per_type(key):
    """True for a per-type span key (`span_f1_PER`, `val_span_recall_LOC`, ...)."""
    match = _KEY.match(key)
    return match is not None and match["kind"] is not None


def format_metrics(metrics):
    """Lines to print: the metrics other than per-type spans as `name value, ...`, then (if
    any) one table per prefix ("", "val_", "test_") of span precision/recall/F1, overall and
    per type."""
    plain, tables = [], {}
    for key, value in metrics.items():
        match = _KEY.match(key)
        if match is None or match["kind"] is None:
            plain.append(f"{key} {value:.4f}")
        if match is not None:
            table = tables.setdefault(match["prefix"], {})
            table.setdefault(match["kind"] or "", {})[match["measure"]] = value
    lines = [", ".join(plain)] if plain else []
    for prefix, rows in tables.items():
        kinds = [""] + sorted(k for k in rows if k)
        names = ["  overall" if not k else f"  {k}" for k in kinds]
        title = f"{prefix}spans (conlleval)"
        width = max(len(title), *(len(n) for n in names)) + 2
        lines.append(title.ljust(width) + "".join(m.rjust(10) for m in MEASURES))
        for kind, name in zip(kinds, names):
            values = rows.get(kind, {})
            cells = (f"{values[m]:.4f}" if m in values else "-" for m in MEASURES)
            lines.append(name.ljust(width) + "".join(c.rjust(10) for c in cells))
    return lines
