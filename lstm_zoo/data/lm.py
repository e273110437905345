"""Language-model corpora: token streams and truncated-BPTT windows.

PTB format (Mikolov's preprocessing): one sentence a line, tokens separated by spaces, `<unk>`
already in the text; `<eos>` is appended at each line end. `level="char"` reads characters
instead (tiny-shakespeare), keeping newlines as tokens. Ids come from the one vocabulary type,
`lstm_zoo.text.Vocabulary` (`<pad>` = 0, `<unk>` = 1: PTB's own `<unk>` token is id 1):

>>> vocabulary = Vocabulary.build([read_lm_tokens("ptb.train.txt")])  # doctest: +SKIP
>>> batches = lm_windows(vocabulary.encode(tokens), 20, 20)  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lstm_zoo.data.files import read_lines
from lstm_zoo.text.vocabulary import Vocabulary  # noqa: F401 (the ids of these streams)
from lstm_zoo.validation import check_int

EOS = "<eos>"


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
