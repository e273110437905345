"""Generation entry points: a pure-TensorFlow core and the user-facing wrappers.

- `generate_tokens`: TF ops only, for use inside any `tf.function` (SavedModel signatures,
  XLA); prompts as a right-padded id matrix plus lengths; stateless seed tensor.
- `generate`: lists/arrays/ragged prompts in, lists of ids out; a cached `tf.function`.
- `generate_text`: strings in and out through a `lstm_zoo.text.Vocabulary`.

Example:

>>> model = language_model(20, units=8, num_layers=1)
>>> out = generate(model, [[1, 2, 3], [4]], max_length=6, sampler="top_k", k=3, seed=1)
>>> [len(seq) for seq in out]
[6, 6]
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from lstm_zoo.generation.registry import get_sampler
from lstm_zoo.generation.step import step_model
from lstm_zoo.text.tokenizer import tokenize
from lstm_zoo.text.vocabulary import Vocabulary


def generate_tokens(
    model, prompt_ids, prompt_lengths, max_length, sampler="greedy", end_token=None, seed=None
):
    """Continue each prompt to `max_length` tokens, in one graph of TF ops.

    Position t < prompt_length keeps the prompt token, later positions are chosen by the
    sampler; the recurrent states advance one step per position, so a batch of prompts of
    different lengths gives each prompt the continuation it gets alone. The common prefix
    (up to the shortest prompt) runs without the output layer. A sequence stops after
    `end_token` (kept) and is padded with 0; the loop ends when every sequence has stopped.

    Args:
        model: a language model (`keras.Model`) or a `StepModel`.
        prompt_ids: int [batch, width]. Prompts, right-padded (entries at or after a prompt's
            length are ignored). Width may exceed `max_length` if the lengths do not.
        prompt_lengths: int [batch]. Each in [1, min(width, max_length)]. (Checked by
            assertions in graph and eager mode; XLA drops assertions.)
        max_length: int (Python), or a scalar int tensor outside XLA (a serving input). Total
            length of each output, prompt included.
        sampler: str, config dict or `Sampler` (see `get_sampler`).
        end_token: int >= 1 or None.
        seed: None (zeros), an int, or an int32/int64 tensor of shape [2] or [] (a scalar s
            means [0, s]): the stateless seed; may be a symbolic serving input.

    Returns:
        dict of tensors: "tokens" int32 [batch, max_length] (prompt + continuation, 0 after
        the end), "lengths" int32 [batch]; with `BeamSampler(return_all_beams=True)` also
        "beam_tokens" int32 [batch, beams, max_length], "beam_lengths" int32 [batch, beams]
        and "beam_scores" float32 [batch, beams], best first.
    """
    step = step_model(model)
    sampler = get_sampler(sampler)
    max_length = _check_max_length(max_length)
    end_token = _check_end_token(end_token, getattr(step, "vocab_size", None))
    prompt_ids = tf.convert_to_tensor(prompt_ids)
    prompt_lengths = tf.convert_to_tensor(prompt_lengths)
    inputs = (("prompt_ids", prompt_ids, 2), ("prompt_lengths", prompt_lengths, 1))
    for name, tensor, rank in inputs:
        if not tensor.dtype.is_integer:
            raise ValueError(f"{name} must hold integer token ids; got dtype {tensor.dtype.name}")
        if tensor.shape.rank is not None and tensor.shape.rank != rank:
            raise ValueError(f"{name} must have rank {rank}; got shape {tensor.shape}")
    prompt_ids = tf.cast(prompt_ids, tf.int32)
    prompt_lengths = tf.cast(prompt_lengths, tf.int32)
    width = prompt_ids.shape[1] if prompt_ids.shape[1] is not None else tf.shape(prompt_ids)[1]
    checks = [
        tf.debugging.assert_greater_equal(
            prompt_lengths, 1, message="every prompt needs at least one token"
        ),
        tf.debugging.assert_less_equal(
            prompt_lengths,
            tf.minimum(width, max_length),
            message="a prompt length exceeds max_length or the width of prompt_ids",
        ),
    ]
    with tf.control_dependencies(checks):
        tokens = tf.identity(prompt_ids[:, :max_length])
    if isinstance(width, int) and isinstance(max_length, int):
        if width < max_length:
            tokens = tf.pad(tokens, [[0, 0], [0, max_length - width]])
    else:
        tokens = tf.pad(tokens, [[0, 0], [0, tf.maximum(max_length - width, 0)]])
        tokens = tf.ensure_shape(
            tokens, [None, max_length if isinstance(max_length, int) else None]
        )
    columns = tf.range(max_length)[None, :]
    tokens = tf.where(columns < prompt_lengths[:, None], tokens, tf.zeros_like(tokens))
    return sampler.run(step, tokens, prompt_lengths, max_length, end_token, _as_seed(seed))


def generate(
    model,
    prompts,
    max_length,
    sampler="greedy",
    end_token=None,
    seed=None,
    jit_compile=False,
    **sampler_kwargs,
):
    """Continue a batch of token-id prompts of any lengths.

    Args:
        model: a language model (`keras.Model`) or a `StepModel`.
        prompts: list of lists of ids, a tf.RaggedTensor, or a 2-D array whose trailing
            zeros are padding. Ids in [1, vocab); 0 is padding.
        max_length: int. Total length of each sequence, prompt included.
        sampler: str (with `**sampler_kwargs`), config dict or `Sampler`.
        end_token: int or None. A sequence stops after it (the end token is kept).
        seed: int or None. Random samplers draw from this seed (None: a fresh one from
            NumPy's global generator, which `keras.utils.set_random_seed` sets).
        jit_compile: bool. Compile the whole loop with XLA.

    Returns:
        A list of lists of ids, prompt included, up to and including the end token. With
        `BeamSampler(return_all_beams=True)`: (list per prompt of lists per beam, best first;
        float array [batch, beams] of beam scores).

    Raises:
        ValueError: an empty prompt, a prompt longer than max_length, an id out of range.
    """
    step = step_model(model)
    sampler = get_sampler(sampler, **sampler_kwargs)
    max_length = _check_max_length(max_length)
    end_token = _check_end_token(end_token, getattr(step, "vocab_size", None))
    tokens, lengths = pad_prompts(prompts, max_length, getattr(step, "vocab_size", None))
    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1))
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"seed must be an int or None; got seed={seed!r}")
    function = _compiled(step, sampler, max_length, end_token, bool(jit_compile))
    result = {k: v.numpy() for k, v in function(tokens, lengths, _as_seed(seed)).items()}
    sequences = [row[:n].tolist() for row, n in zip(result["tokens"], result["lengths"])]
    if "beam_tokens" not in result:
        return sequences
    beams = [
        [row[:n].tolist() for row, n in zip(rows, counts)]
        for rows, counts in zip(result["beam_tokens"], result["beam_lengths"])
    ]
    return beams, result["beam_scores"]


def generate_text(
    model,
    vocabulary,
    prompts,
    max_length,
    sampler="greedy",
    end_token=None,
    seed=None,
    level="word",
    jit_compile=False,
    **sampler_kwargs,
):
    """Continue text prompts; strings in, strings out.

    Args:
        model: a language model whose ids are `vocabulary`'s.
        vocabulary: `lstm_zoo.text.Vocabulary` (also `lstm_zoo.data.Vocabulary`).
        prompts: list of str. Word level: split on Unicode whitespace; `level="char"`: code
            points (`lstm_zoo.text.tokenize`, no case folding).
            Unknown tokens become `<unk>` (id 1).
        max_length: int. Total tokens per output, prompt included.
        end_token: str (a vocabulary token, e.g. "<eos>"), int id, or None. Generation of a
            text stops at it; it is not included in the returned text.
        level: "word" (outputs joined with spaces) or "char" (joined with nothing).
        seed, jit_compile, sampler, **sampler_kwargs: as `generate`.

    Returns:
        list of str: each prompt (as the vocabulary reads it) followed by its continuation.
        With `return_all_beams`, the best beam's text.
    """
    if level not in ("word", "char"):
        raise ValueError(f"level must be 'word' or 'char'; got {level!r}")
    if isinstance(prompts, str):
        raise ValueError("prompts must be a list of strings; got one string (wrap it in [ ])")
    if not isinstance(vocabulary, Vocabulary):
        raise ValueError(
            "vocabulary must be a lstm_zoo.text.Vocabulary (Vocabulary(tokens) from a token "
            f"list); got {type(vocabulary).__name__}"
        )
    step = step_model(model)
    vocab_size = getattr(step, "vocab_size", None)
    if vocab_size is not None and len(vocabulary) != vocab_size:
        raise ValueError(
            f"the vocabulary has {len(vocabulary)} tokens but the model has {vocab_size} ids"
        )
    if isinstance(end_token, str):
        if end_token not in vocabulary.index:
            raise ValueError(f"end_token {end_token!r} is not in the vocabulary")
        end_token = vocabulary.index[end_token]
    ids = []
    for index, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise ValueError(f"prompt {index} must be a string; got {prompt!r}")
        pieces = tokenize(prompt, level=level)  # lstm_zoo.text's rule, as the task models
        if not pieces:
            raise ValueError(f"prompt {index} ({prompt!r}) has no tokens")
        ids.append(vocabulary.encode(pieces))
    output = generate(
        step, ids, max_length, sampler, end_token, seed, jit_compile, **sampler_kwargs
    )
    if isinstance(output, tuple):
        output = [beams[0] for beams in output[0]]
    separator = " " if level == "word" else ""
    texts = []
    for sequence in output:
        if end_token is not None and len(sequence) > 1 and sequence[-1] == end_token:
            sequence = sequence[:-1]
        texts.append(separator.join(vocabulary.decode(sequence)))
    return texts


def pad_prompts(prompts, max_length, vocab_size=None):
    """Prompts of any lengths -> (int32 [batch, max_length] right-padded with 0, int32 [batch]).

    Raises:
        ValueError: no prompts, an empty prompt, a prompt longer than max_length, an id that
            is padding (0) or outside the vocabulary.
    """
    if isinstance(prompts, tf.RaggedTensor):
        rows = [np.asarray(row) for row in prompts.to_list()]
    elif isinstance(prompts, (np.ndarray, tf.Tensor)):
        array = np.asarray(prompts)
        if array.ndim != 2:
            raise ValueError(f"a prompt array must be 2-D [batch, time]; got shape {array.shape}")
        rows = [row[: _unpadded_length(row)] for row in array]
    else:
        prompts = list(prompts)
        if prompts and np.ndim(prompts[0]) == 0:
            raise ValueError("prompts must be a batch (a list of lists of ids); got one list")
        rows = [np.asarray(row) for row in prompts]
    if not rows:
        raise ValueError("no prompts given")
    tokens = np.zeros((len(rows), max_length), np.int32)
    lengths = np.zeros(len(rows), np.int32)
    for index, row in enumerate(rows):
        if row.ndim != 1 or row.size == 0:
            raise ValueError(f"prompt {index} must be a non-empty list of ids; got {row.tolist()}")
        if row.dtype.kind not in "iu":
            raise ValueError(f"prompt {index} holds non-integer ids (dtype {row.dtype})")
        if len(row) > max_length:
            raise ValueError(f"prompt {index} has {len(row)} tokens; max_length is {max_length}")
        bad = (row < 1) | (row >= vocab_size) if vocab_size is not None else row < 1
        if bad.any():
            position = int(np.argmax(bad))
            raise ValueError(
                f"prompt {index}, position {position}: id {int(row[position])} is padding or "
                f"outside the vocabulary [1, {vocab_size})"
            )
        tokens[index, : len(row)] = row
        lengths[index] = len(row)
    return tokens, lengths


def _unpadded_length(row):
    nonzero = np.flatnonzero(row)
    return int(nonzero[-1]) + 1 if nonzero.size else 0


def _compiled(step, sampler, max_length, end_token, jit_compile):
    """One `tf.function` per (step model, sampler config, max_length, end token, jit)."""
    cache = step.__dict__.setdefault("_lstm_zoo_generate_functions", {})
    key = (
        type(sampler).__name__,
        tuple(sorted(sampler.get_config().items())),
        max_length,
        end_token,
        jit_compile,
    )
    if key not in cache:
        signature = [
            tf.TensorSpec([None, max_length], tf.int32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([2], tf.int64),
        ]

        def run(tokens, lengths, seed):
            return generate_tokens(step, tokens, lengths, max_length, sampler, end_token, seed)

        cache[key] = tf.function(run, input_signature=signature, jit_compile=jit_compile)
    return cache[key]


def _check_max_length(max_length):
    """A Python int >= 1, or a scalar integer tensor (graph mode without XLA, e.g. a SavedModel
    serving input: XLA needs the static int)."""
    if isinstance(max_length, (tf.Tensor, tf.Variable)):
        if not max_length.dtype.is_integer or max_length.shape.rank not in (0, None):
            raise ValueError(f"max_length must be a scalar integer; got {max_length!r}")
        max_length = tf.cast(max_length, tf.int32)
        check = tf.debugging.assert_positive(max_length, message="max_length must be >= 1")
        with tf.control_dependencies([check]):
            return tf.identity(max_length)
    if isinstance(max_length, bool) or not isinstance(max_length, (int, np.integer)):
        raise ValueError(f"max_length must be a Python int; got {max_length!r}")
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1; got {max_length}")
    return int(max_length)


def _check_end_token(end_token, vocab_size):
    if end_token is None:
        return None
    if isinstance(end_token, bool) or not isinstance(end_token, (int, np.integer)):
        raise ValueError(f"end_token must be an int id or None; got {end_token!r}")
    if end_token < 1 or (vocab_size is not None and end_token >= vocab_size):
        raise ValueError(
            f"end_token={end_token} is padding (0) or outside the vocabulary "
            f"[1, {vocab_size if vocab_size is not None else '...'})"
        )
    return int(end_token)


def _as_seed(seed):
    """A [2] int64 stateless seed from None, an int, or a [2]/[] integer tensor."""
    if seed is None:
        return tf.zeros([2], tf.int64)
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        if not -(2**63) <= int(seed) < 2**63:
            raise ValueError(f"seed must fit in 64 bits, in [-2**63, 2**63); got seed={seed}")
        return tf.constant([0, int(seed)], tf.int64)
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise ValueError(f"seed must be integer; got dtype {seed.dtype.name}")
    seed = tf.cast(seed, tf.int64)
    if seed.shape.rank == 0:
        return tf.stack([tf.zeros([], tf.int64), seed])
    if seed.shape.rank != 1 or seed.shape[0] not in (None, 2):
        raise ValueError(f"seed must be a scalar or have shape [2]; got {seed.shape}")
    return tf.ensure_shape(seed, [2])
