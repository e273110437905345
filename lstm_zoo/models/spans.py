"""Span-level precision, recall and F1 for IOB1, BIO (IOB2) and BIOES tags, with the
semantics of the CoNLL `conlleval` script: a chunk is correct only if its type, start and end
all match; an I- tag that cannot continue the current chunk starts a new one."""

from __future__ import annotations


def _split(tag):
    if tag in ("O", "", None):
        return "O", None
    prefix, _, kind = tag.partition("-")
    return prefix, kind


def _chunk_start(prev_prefix, prev_kind, prefix, kind):
    if prefix in ("B", "S"):
        return True
    return prefix in ("E", "I") and (prev_prefix in ("E", "S", "O") or prev_kind != kind)


def _chunk_end(prefix, kind, next_prefix, next_kind):
    if prefix in ("E", "S"):
        return True
    return prefix in ("B", "I") and (next_prefix in ("B", "S", "O") or next_kind != kind)


def spans(tags, scheme="bio"):
    """The set of (type, start, end_inclusive) chunks in a tag sequence.

    Args:
        tags: sequence of str like "B-PER", "I-PER", "O" (BIO/IOB1) or also "E-", "S-" (BIOES).
        scheme: "iob1", "bio" or "bioes". In IOB1 a B- only separates two adjacent chunks of
            one type; conlleval's rules below cover all three.
    """
    if scheme not in ("iob1", "bio", "bioes"):
        raise ValueError(f"scheme must be 'iob1', 'bio' or 'bioes'; got {scheme!r}")
    found, start = set(), None
    parsed = [_split(t) for t in tags] + [("O", None)]
    prev_prefix, prev_kind = "O", None
    for index, (prefix, kind) in enumerate(parsed[:-1]):
        if prefix not in ("O", "B", "I", "E", "S"):
            raise ValueError(f"tag {tags[index]!r} at position {index} is not B-/I-/E-/S-/O")
        if prefix != "O" and _chunk_start(prev_prefix, prev_kind, prefix, kind):
            start = index
        next_prefix, next_kind = parsed[index + 1]
        if start is not None and prefix != "O" and _chunk_end(prefix, kind, next_prefix, next_kind):
            found.add((kind, start, index))
            start = None
        prev_prefix, prev_kind = prefix, kind
    return found


def span_f1(true_sequences, predicted_sequences, scheme="bio"):
    """Micro precision, recall and F1 (in [0, 1]) over all sentences' chunks."""
    if len(true_sequences) != len(predicted_sequences):
        raise ValueError(
            f"{len(true_sequences)} true sentences but {len(predicted_sequences)} predicted"
        )
    correct = guessed = gold = 0
    for index, (truth, guess) in enumerate(zip(true_sequences, predicted_sequences)):
        if len(truth) != len(guess):
            raise ValueError(f"sentence {index}: {len(truth)} true tags, {len(guess)} predicted")
        true_spans, guessed_spans = spans(truth, scheme), spans(guess, scheme)
        correct += len(true_spans & guessed_spans)
        guessed += len(guessed_spans)
        gold += len(true_spans)
    precision = correct / guessed if guessed else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def chunk_scheme(tags):
    """ "bioes", "bio" (BIO or IOB1: conlleval reads both alike) or None for a tag set that is
    not a chunk tag set (UPOS: "NOUN", "VERB", ...)."""
    tags = [t for t in tags if t not in ("O", "", None)]
    if not tags or not all(len(t) > 2 and t[0] in "BIES" and t[1] == "-" for t in tags):
        return None
    return "bioes" if any(t[0] in "ES" for t in tags) else "bio"


def _scores(correct, guessed, gold):
    precision = correct / guessed if guessed else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def span_scores(true_sequences, predicted_sequences, scheme="bio"):
    """conlleval's report: overall micro precision/recall/F1 (in [0, 1]) and the same per
    chunk type, as {"precision", "recall", "f1", "per_type": {type: {...}}}.

    Example:

    >>> span_scores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]])
    ... # doctest: +NORMALIZE_WHITESPACE
    {'precision': 0.5, 'recall': 0.5, 'f1': 0.5, 'per_type': {'LOC': {...}, ...}}
    """
    if len(true_sequences) != len(predicted_sequences):
        raise ValueError(
            f"{len(true_sequences)} true sentences but {len(predicted_sequences)} predicted"
        )
    counts = {}  # type -> [correct, guessed, gold]
    for index, (truth, guess) in enumerate(zip(true_sequences, predicted_sequences)):
        if len(truth) != len(guess):
            raise ValueError(f"sentence {index}: {len(truth)} true tags, {len(guess)} predicted")
        true_spans, guessed_spans = spans(truth, scheme), spans(guess, scheme)
        for kind, *_ in true_spans | guessed_spans:
            counts.setdefault(kind, [0, 0, 0])
        for span in true_spans & guessed_spans:
            counts[span[0]][0] += 1
        for span in guessed_spans:
            counts[span[0]][1] += 1
        for span in true_spans:
            counts[span[0]][2] += 1
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    return {
        **_scores(*total),
        "per_type": {kind: _scores(*counts[kind]) for kind in sorted(counts)},
    }


MEASURES = ("precision", "recall", "f1")


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
