"""conlleval span reports for the command line: a tagger's predictions over a data set ->
token accuracy and span precision/recall/F1 (overall and per chunk type), as flat metrics and
as printable lines.

The span rules and the flat metrics are `lstm_zoo.models.spans` (conlleval's; re-exported
here); this module adds token accuracy and formats the report.

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

from lstm_zoo.models.spans import MEASURES, chunk_types, span_metrics  # noqa: F401

_KEY = re.compile(
    r"^(?P<prefix>(?:[a-z]+_)*?)span_(?P<measure>precision|recall|f1)(?:_(?P<kind>.+))?$"
)


def token_accuracy(truth, guess):
    """Share of tokens whose predicted tag is right (exact: counted over all sentences)."""
    total = sum(len(t) for t in truth)
    correct = sum(a == b for t, g in zip(truth, guess) for a, b in zip(t, g))
    return correct / max(total, 1)


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
