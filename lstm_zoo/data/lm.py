"""Language-model corpora: token streams, vocabularies and truncated-BPTT windows.

PTB format (Mikolov's preprocessing): one sentence a line, tokens separated by spaces, `<unk>`
already in the text; `<eos>` is appended at each line end. `level="char"` reads characters
instead (tiny-shakespeare), keeping newlines as tokens.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import tensorflow as tf

from lstm_zoo.data.files import read_lines
from lstm_zoo.validation import check_int

PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"


def read_lm_tokens(path, level="word", add_eos=True):
    """All tokens of a corpus file, in order.

    Args:
        path: str or Path. UTF-8 text, plain or `.gz`.
        level: "word" (whitespace-separated tokens) or "char".
        add_eos: bool. Append `<eos>` after every line (word level).

    Raises:
        ValueError: unknown level, unreadable file, or a file with no tokens.
    """
    if level not in ("word", "char"):
        raise ValueError(f"level must be 'word' or 'char'; got level={level!r}")
    tokens = []
    for _, line in read_lines(path):
        if level == "char":
            tokens.extend(line + "\n")
        else:
            tokens.extend(line.split())
            if add_eos:
                tokens.append(EOS)
    if not tokens or (level == "word" and all(t == EOS for t in tokens)):
        raise ValueError(f"{path}: the file holds no tokens")
    return tokens


class Vocabulary:
    """Token <-> id; id 0 is padding. Unknown tokens map to `<unk>` when the vocabulary has it,
    otherwise encoding raises ValueError naming the token (nothing is dropped silently).

    Example:

    >>> vocab = Vocabulary.from_tokens("a b a <eos>".split())
    >>> vocab.encode(["a", "b"]).tolist()
    [1, 3]
    """

    def __init__(self, tokens):
        if isinstance(tokens, str):
            raise ValueError(f"tokens must be a list of strings; got one string {tokens[:40]!r}")
        tokens = list(tokens)
        bad = next((t for t in tokens if not isinstance(t, str) or not t), None)
        if bad is not None:
            raise ValueError(f"vocabulary tokens must be non-empty strings; got {bad!r}")
        if not tokens or tokens[0] != PAD:
            tokens = [PAD] + [t for t in tokens if t != PAD]
        if len(set(tokens)) != len(tokens):
            seen = set()
            duplicate = next(t for t in tokens if t in seen or seen.add(t))
            raise ValueError(f"vocabulary tokens must be unique; {duplicate!r} appears twice")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}

    @classmethod
    def from_tokens(cls, tokens, max_size=None, min_count=1):
        """Most frequent first (ties in first-seen order), at most `max_size` with padding.

        Raises:
            ValueError: max_size < 2 (padding and one token) or min_count < 1.
        """
        check_int("max_size", max_size, low=2, none=True)
        check_int("min_count", min_count, low=1)
        counts = Counter(tokens)
        ordered = sorted(counts, key=lambda t: -counts[t])  # stable: first-seen order on ties
        ordered = [t for t in ordered if counts[t] >= min_count and t != PAD]
        if max_size is not None:
            ordered = ordered[: max_size - 1]
        return cls([PAD] + ordered)

    def __len__(self):
        return len(self.tokens)

    def encode(self, tokens):
        unk = self.index.get(UNK)
        ids = np.empty(len(tokens), dtype=np.int32)
        for position, token in enumerate(tokens):
            token_id = self.index.get(token, unk)
            if token_id is None:
                raise ValueError(
                    f"token {token!r} (position {position}) is not in the vocabulary and the "
                    f"vocabulary has no {UNK!r}"
                )
            ids[position] = token_id
        return ids

    def decode(self, ids):
        """Tokens of `ids`; ValueError naming the first id outside [0, len(self))."""
        tokens = []
        for position, token_id in enumerate(ids):
            if not 0 <= int(token_id) < len(self.tokens):
                raise ValueError(
                    f"id {int(token_id)} (position {position}) is outside the vocabulary "
                    f"[0, {len(self.tokens)})"
                )
            tokens.append(self.tokens[int(token_id)])
        return tokens


def lm_windows(ids, batch_size, num_steps):
    """Truncated-BPTT batches of one contiguous stream, as the TensorFlow PTB tutorial cuts them.

    The stream is split into `batch_size` contiguous rows; batch k holds columns
    [k * num_steps, (k + 1) * num_steps) of every row, so row b of batch k + 1 continues row b
    of batch k and a stateful model can carry its state across batches. Targets are the inputs
    shifted by one token.

    Returns:
        A `tf.data.Dataset` of (inputs, targets), int32 [batch_size, num_steps], in order.

    Raises:
        ValueError: batch_size or num_steps < 1, ids not a 1-D integer stream or negative, or
            a stream too short for one batch.
    """
    check_int("batch_size", batch_size)
    check_int("num_steps", num_steps)
    ids = np.asarray(ids)
    if ids.ndim != 1 or (ids.size and ids.dtype.kind not in "iu"):
        raise ValueError(f"ids must be a 1-D stream of integer ids; got {ids.dtype} {ids.shape}")
    if ids.size and ids.min() < 0:
        raise ValueError(f"ids: id {int(ids.min())} at position {int(ids.argmin())} is negative")
    ids = ids.astype(np.int32)
    row_length = len(ids) // batch_size
    batches = (row_length - 1) // num_steps
    if batches < 1:
        raise ValueError(
            f"{len(ids)} tokens make no batch of {batch_size} x {num_steps} (+1 for targets)"
        )
    rows = ids[: batch_size * row_length].reshape(batch_size, row_length)
    span = batches * num_steps
    inputs = rows[:, :span].reshape(batch_size, batches, num_steps).transpose(1, 0, 2)
    targets = rows[:, 1 : span + 1].reshape(batch_size, batches, num_steps).transpose(1, 0, 2)
    return tf.data.Dataset.from_tensor_slices((inputs, targets)).prefetch(tf.data.AUTOTUNE)
