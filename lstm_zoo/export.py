"""SavedModel export whose serving signatures take raw strings.

The vocabulary and the text-to-ids step live inside the graph (a `tf.lookup.StaticHashTable`
over whitespace tokens, or a `keras.layers.TextVectorization`), so a process with only
TensorFlow installed serves the model:

>>> loaded = tf.saved_model.load(path)                       # no lstm_zoo import needed
>>> loaded.signatures["classify"](texts=tf.constant(["a fine film"]))
{"probabilities": [[0.1, 0.9]], "label_ids": [1], "labels": [b"positive"]}

Signatures by task:
- `classify`: texts [batch] -> probabilities [batch, classes], label_ids [batch], labels
  [batch] (the class names).
- `tag`: texts [batch] (whitespace-tokenized sentences) -> tags [batch, longest] (strings, ""
  after each sentence's end), lengths [batch]. `tag_tokens`: tokens [batch, longest] strings
  padded with "" -> the same.
- `generate` (and `generate_<sampler>` for every sampler given): prompts [batch],
  max_length (scalar) and seed [2] -> token_ids, lengths, texts (prompt + continuation) and
  continuations.

Tokenization in the graph is whitespace splitting (`tf.strings.split`) with optional UTF-8
lowercasing, the same as `lstm_zoo.data.classification.encode_texts` and
`lstm_zoo.data.tagging.encode_tagged` do in Python. An empty text is an error
(`InvalidArgumentError` naming the signature), never an all-padding input.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from lstm_zoo.kernels.loader import with_xla_loops

TASKS = ("classify", "tag", "generate")
# How texts become tokens: "tf.strings" (ASCII-whitespace split, tf.strings.lower; what the
# run directories of `lstm-zoo train` use) or "lstm_zoo.text" (the rule of lstm_zoo.text, the
# task models': Unicode whitespace, simple case folding).
TEXT_RULES = ("tf.strings", "lstm_zoo.text")


class StringIds(tf.Module):
    """Strings -> ids with the vocabulary in the graph.

    Args:
        vocabulary: list of str. Index 0 = padding. Unknown tokens map to `unknown` when it is
            in the vocabulary (`"<unk>"`, the one spelling; `"<oov>"` of run directories
            written before it); without one they are an error.
        lowercase: bool. Lowercase (UTF-8) before the lookup.
        level: "word" (whitespace tokens), "char" (Unicode characters, for character LMs) or,
            with `text_rule="lstm_zoo.text"`, "word_punct" (ASCII punctuation split off).
    """

    def __init__(
        self,
        vocabulary,
        lowercase=False,
        level="word",
        unknown=("<oov>", "<unk>"),
        text_rule="tf.strings",
    ):
        super().__init__()
        if text_rule not in TEXT_RULES:
            raise ValueError(f"text_rule must be one of {TEXT_RULES}; got {text_rule!r}")
        self.text_rule = text_rule
        vocabulary = [str(token) for token in vocabulary]
        if len(vocabulary) < 2:
            raise ValueError(
                f"the vocabulary needs padding and at least one token; got {vocabulary}"
            )
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("the vocabulary has duplicate tokens")
        # "word_punct" (ASCII punctuation split off) exists in the task models' rule only
        word_punct = text_rule == "lstm_zoo.text" and level == "word_punct"
        if level not in ("word", "char") and not word_punct:
            raise ValueError(f"level must be 'word' or 'char'; got {level!r}")
        self.vocabulary = vocabulary
        self.lowercase = bool(lowercase)
        self.level = level
        unknown_ids = [vocabulary.index(u) for u in unknown if u in vocabulary]
        self.unknown_id = unknown_ids[0] if unknown_ids else -1
        keys = tf.constant(vocabulary[1:])
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(keys, tf.range(1, len(vocabulary), dtype=tf.int64)),
            default_value=self.unknown_id,
        )
        self.tokens = tf.constant(vocabulary)
        if text_rule == "lstm_zoo.text" and self.lowercase:
            from lstm_zoo.text.tokenizer import tf_folding_table

            self.folding = tf_folding_table()

    def split(self, texts):
        """[batch] strings -> ragged [batch, (tokens)] strings."""
        if self.text_rule == "lstm_zoo.text":
            from lstm_zoo.text.tokenizer import tf_tokenize

            return tf_tokenize(texts, self.lowercase, self.level, getattr(self, "folding", None))
        if self.lowercase:
            texts = tf.strings.lower(texts, encoding="utf-8")
        if self.level == "char":
            return tf.strings.unicode_split(texts, "UTF-8")
        return tf.strings.split(texts)

    def split_words(self, texts):
        """[batch] strings -> ragged words as written (no case folding)."""
        if self.text_rule == "lstm_zoo.text":
            from lstm_zoo.text.tokenizer import tf_tokenize

            return tf_tokenize(texts, False, "word")
        return tf.strings.split(texts)

    def fold(self, tokens):
        """Tokens lowercased (or case-folded by the `lstm_zoo.text` rule) when `lowercase`."""
        if not self.lowercase:
            return tokens
        if self.text_rule == "lstm_zoo.text":
            from lstm_zoo.text.tokenizer import tf_fold_case

            return tf_fold_case(tokens, self.folding)
        return tf.strings.lower(tokens, encoding="utf-8")

    def lookup(self, tokens, where):
        """Ragged or dense string tokens -> int32 ids; an unknown token without an unknown id
        in the vocabulary fails with a message naming `where`."""
        ragged = isinstance(tokens, tf.RaggedTensor)
        ids = tf.cast(self.table.lookup(tokens.flat_values if ragged else tokens), tf.int32)
        flat = ids
        if ragged:
            ids = tokens.with_flat_values(ids)
        check = tf.debugging.assert_non_negative(
            flat, message=f"{where}: a token is not in the vocabulary (which has no unknown token)"
        )
        with tf.control_dependencies([check]):
            if ragged:
                return ids.with_flat_values(tf.identity(ids.flat_values))
            return tf.identity(ids)

    def encode(self, texts, where):
        """[batch] strings -> (ids [batch, longest] padded with 0, lengths [batch])."""
        tokens = self.split(texts)
        lengths = tf.cast(tokens.row_lengths(), tf.int32)
        check = tf.debugging.assert_positive(
            lengths, message=f"{where}: an input text has no tokens"
        )
        with tf.control_dependencies([check]):
            ids = self.lookup(tokens, where).to_tensor(0)
        return ids, lengths

    def decode(self, ids, lengths):
        """ids [batch, time] and lengths -> ragged string tokens (padding dropped)."""
        mask = tf.sequence_mask(lengths, tf.shape(ids)[1])
        return tf.ragged.boolean_mask(tf.gather(self.tokens, ids), mask)

    def join(self, tokens):
        """Ragged tokens -> [batch] strings (space-joined words, concatenated characters)."""
        return tf.strings.reduce_join(
            tokens, axis=-1, separator="" if self.level == "char" else " "
        )


@with_xla_loops
def export_saved_model(
    model,
    path,
    task,
    vocabulary,
    *,
    labels=None,
    characters=None,
    lowercase=False,
    level="word",
    samplers=("greedy",),
    num_beams=4,
    sampler_options=None,
    end_token=None,
    overwrite=False,
    text_rule="tf.strings",
):
    """Write a TensorFlow SavedModel whose signatures take raw strings.

    The SavedModel is written beside `path` and renamed into place when complete, so an
    interrupted export leaves no half-written directory and an old export is replaced only by
    a whole new one.

    Args:
        model: a model of `language_model`, `sentiment_classifier` or `sequence_tagger`.
        path: str or Path. Output directory: new, or empty, or (with `overwrite=True`) an
            existing export to replace.
        task: "classify", "tag" or "generate".
        vocabulary: list of str (id order, 0 = padding), a `lstm_zoo.text.Vocabulary`, or (for
            classify) a `keras.layers.TextVectorization` adapted with the model's vocabulary.
        labels: list of str. Class names (classify, default "0", "1", ...) or tag names (tag,
            required), in id order.
        characters: list of str. The character vocabulary of a tagger with `char_features`
            (0 = padding, 1 = unknown); its characters come from the words as written.
        lowercase: bool. Lowercase texts before the lookup (as the vocabulary was built).
        level: "word" or "char" (generate: a character-level language model).
        samplers: names of `lstm_zoo.generation` samplers to serve (generate). The first is
            served as `generate`, each also as `generate_<name>`.
        num_beams: int. Beam width of the "beam" sampler (fixed at export).
        sampler_options: dict name -> keyword arguments of that sampler, fixed at export
            (e.g. {"top_k": {"k": 10, "temperature": 0.8}}); defaults otherwise.
        end_token: str or None. Generation stops per sequence after this token.
        overwrite: bool. Replace what is at `path` (a non-empty directory is refused
            otherwise).
        text_rule: "tf.strings" or "lstm_zoo.text" (see `TEXT_RULES`).

    Returns:
        The `tf.Module` that was saved (its functions work in this process too).

    Raises:
        ValueError: an unknown task; `path` a file, or a non-empty directory without
            `overwrite=True`; a vocabulary, label or character list whose size is not the
            model's; a bad sampler name or option.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}; got {task!r}")
    path = _check_output_path(path, overwrite)
    _check_vocabulary_size(model, vocabulary)
    module = tf.Module()
    module.model = model
    if isinstance(vocabulary, keras.layers.TextVectorization):
        if task != "classify":
            raise ValueError("a TextVectorization vocabulary is supported for task='classify'")
        module.vectorizer = vocabulary
        encoder = None
    else:
        tokens = getattr(vocabulary, "tokens", vocabulary)
        encoder = StringIds(tokens, lowercase=lowercase, level=level, text_rule=text_rule)
        module.encoder = encoder

    if task == "classify":
        signatures = _classify_signatures(module, model, encoder, labels)
    elif task == "tag":
        signatures = _tag_signatures(module, model, encoder, labels, characters)
    else:
        options = {"beam": {"num_beams": num_beams}}
        for name, kwargs in (sampler_options or {}).items():
            options[name] = {**options.get(name, {}), **kwargs}
        signatures = _generate_signatures(model, encoder, samplers, options, end_token)
    for name, function in signatures.items():
        setattr(module, name, function)
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    try:
        tf.saved_model.save(module, str(staging), signatures=signatures)
        _replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return module


def _check_output_path(path, overwrite):
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a str or Path; got {path!r}")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{path}: exists and is not a directory; the export needs a directory")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise ValueError(
            f"{path}: the directory is not empty; pass overwrite=True (lstm-zoo export "
            "--overwrite) to replace it"
        )
    return path


def _replace(staging, path):
    """Move the finished `staging` directory to `path`; an old `path` is removed only after."""
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.{os.getpid()}.old")
        shutil.rmtree(old, ignore_errors=True)
        path.rename(old)
    try:
        staging.rename(path)
    except BaseException:
        if old is not None:
            old.rename(path)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _embedding_rows(model):
    try:
        return int(model.get_layer("token_embedding").input_dim)
    except (ValueError, AttributeError):
        return None


def _check_vocabulary_size(model, vocabulary):
    """ValueError when the vocabulary does not fit the model's token embedding."""
    rows = _embedding_rows(model)
    if rows is None:
        return
    if isinstance(vocabulary, keras.layers.TextVectorization):
        size = vocabulary.vocabulary_size()
        if size > rows:
            raise ValueError(
                f"vocabulary: the TextVectorization layer makes ids in [0, {size}), the model's "
                f"token_embedding has {rows} rows"
            )
        return
    tokens = getattr(vocabulary, "tokens", vocabulary)
    if isinstance(tokens, str) or not hasattr(tokens, "__len__"):
        raise ValueError(
            f"vocabulary must be a list of tokens, a Vocabulary or a TextVectorization; got "
            f"{type(vocabulary).__name__}"
        )
    if len(tokens) != rows:
        raise ValueError(
            f"vocabulary has {len(tokens)} tokens but the model's token_embedding has {rows} "
            "rows (ids); pass the vocabulary the model was trained with"
        )


def _classify_signatures(module, model, encoder, labels):
    outputs = model.output_shape[-1]
    classes = 2 if outputs == 1 else outputs
    labels = [str(i) for i in range(classes)] if labels is None else [str(x) for x in labels]
    if len(labels) != classes:
        raise ValueError(f"the model has {classes} classes; got {len(labels)} labels {labels}")
    names = tf.constant(labels)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def classify(texts):
        if encoder is None:
            ids = tf.cast(module.vectorizer(texts), tf.int32)
            check = tf.debugging.assert_positive(
                tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1),
                message="classify: an input text has no tokens",
            )
            with tf.control_dependencies([check]):
                ids = tf.identity(ids)
        else:
            ids, _ = encoder.encode(texts, "classify")
        probabilities = model(ids, training=False)
        if outputs == 1:
            probabilities = tf.concat([1.0 - probabilities, probabilities], axis=-1)
        label_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "label_ids": label_ids,
            "labels": tf.gather(names, label_ids),
        }

    return {"classify": classify, "serving_default": classify}


def _tag_signatures(module, model, encoder, labels, characters):
    if labels is None:
        raise ValueError("task='tag' needs labels: the tag names in id order")
    names = tf.constant([str(x) for x in labels])
    crf = isinstance(model.output, dict) and "tags" in model.output
    num_tags = (model.output["emissions"] if crf else model.output).shape[-1]
    if num_tags is not None and len(labels) != num_tags:
        raise ValueError(f"the model has {num_tags} tags; got {len(labels)} labels {labels}")
    char_model = isinstance(model.input, dict)
    if char_model and characters is None:
        raise ValueError(
            "this tagger reads characters: pass characters= (its character vocabulary)"
        )
    if char_model:
        char_rows = getattr(_get_layer_or_none(model, "char_features"), "vocab_size", None)
        if char_rows is not None and len(characters) != char_rows:
            raise ValueError(
                f"characters has {len(characters)} entries but the model's character "
                f"embedding has {char_rows} rows"
            )
    if characters is not None:
        module.characters = StringIds(characters, level="char")

    def tags_for(raw, where):
        """Ragged raw tokens [batch, (words)] -> the signature's outputs."""
        lengths = tf.cast(raw.row_lengths(), tf.int32)
        check = tf.debugging.assert_positive(lengths, message=f"{where}: a sentence has no tokens")
        with tf.control_dependencies([check]):
            words = encoder.fold(raw)
            ids = encoder.lookup(words, where).to_tensor(0)
        inputs = ids
        if char_model:
            chars = tf.strings.unicode_split(raw, "UTF-8")  # characters of the words as written
            inputs = {
                "tokens": ids,
                "characters": module.characters.lookup(chars, where).to_tensor(0),
            }
        output = model(inputs, training=False)
        tag_ids = output["tags"] if crf else tf.argmax(output, axis=-1, output_type=tf.int32)
        tag_ids = tf.cast(tag_ids, tf.int32)
        mask = tf.sequence_mask(lengths, tf.shape(ids)[1])
        tags = tf.where(mask, tf.gather(names, tag_ids), tf.constant(""))
        return {"tags": tags, "tag_ids": tf.where(mask, tag_ids, -1), "lengths": lengths}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="texts")])
    def tag(texts):
        return tags_for(encoder.split_words(texts), "tag")

    @tf.function(input_signature=[tf.TensorSpec([None, None], tf.string, name="tokens")])
    def tag_tokens(tokens):
        real = tokens != ""
        lengths = tf.reduce_sum(tf.cast(real, tf.int32), axis=1)
        # Padding must only follow the tokens: "" inside a sentence would shift its tags.
        contiguous = tf.reduce_all(real == tf.sequence_mask(lengths, tf.shape(tokens)[1]))
        check = tf.debugging.assert_equal(
            contiguous, True, message="tag_tokens: empty-string padding inside a sentence"
        )
        with tf.control_dependencies([check]):
            raw = tf.RaggedTensor.from_tensor(tokens, lengths=lengths)
        return tags_for(raw, "tag_tokens")

    return {"tag": tag, "tag_tokens": tag_tokens, "serving_default": tag}


def _get_layer_or_none(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        return None


def _generate_signatures(model, encoder, samplers, options, end_token):
    from lstm_zoo.generation import generate_tokens, get_sampler, step_model

    if isinstance(samplers, str):
        samplers = (samplers,)
    if not samplers:
        raise ValueError("task='generate' needs at least one sampler name")
    end_id = None
    if end_token is not None:
        if end_token not in encoder.vocabulary:
            raise ValueError(f"end_token {end_token!r} is not in the vocabulary")
        end_id = encoder.vocabulary.index(end_token)
    step = step_model(model)
    spec = [
        tf.TensorSpec([None], tf.string, name="prompts"),
        tf.TensorSpec([], tf.int32, name="max_length"),
        tf.TensorSpec([2], tf.int32, name="seed"),
    ]
    signatures = {}
    for name in samplers:
        sampler = get_sampler(name, **options.get(name, {}))
        signatures[f"generate_{name}"] = _generate_function(
            encoder, step, sampler, end_id, spec, f"generate_{name}", generate_tokens
        )
    signatures["generate"] = signatures[f"generate_{samplers[0]}"]
    signatures["serving_default"] = signatures["generate"]
    return signatures


def _generate_function(encoder, step, sampler, end_id, spec, where, generate_tokens):
    """A signature: prompts, max_length, seed -> token_ids, lengths, texts, continuations.

    Texts drop a final end token, as `lstm_zoo.generation.generate_text` does."""

    @tf.function(input_signature=spec)
    def generate(prompts, max_length, seed):
        ids, prompt_lengths = encoder.encode(prompts, where)
        result = generate_tokens(step, ids, prompt_lengths, max_length, sampler, end_id, seed)
        tokens, lengths = result["tokens"], result["lengths"]
        text_lengths = lengths
        if end_id is not None:
            last = tf.gather(tokens, tf.maximum(lengths - 1, 0), batch_dims=1)
            text_lengths = lengths - tf.cast((last == end_id) & (lengths > 1), tf.int32)
        words = encoder.decode(tokens, text_lengths)
        continuation = tf.RaggedTensor.from_row_lengths(
            tf.gather(
                words.flat_values,
                _ranges_after(words.row_starts(), prompt_lengths, text_lengths),
            ),
            tf.maximum(text_lengths - prompt_lengths, 0),
        )
        return {
            "token_ids": tokens,
            "lengths": lengths,
            "texts": encoder.join(words),
            "continuations": encoder.join(continuation),
        }

    return generate


def _ranges_after(starts, offsets, ends):
    """Flat indices starts[b] + [offsets[b], ends[b]) for every row b."""
    counts = tf.maximum(ends - offsets, 0)
    row = tf.repeat(tf.range(tf.size(counts)), counts)
    within = tf.range(tf.reduce_sum(counts)) - tf.repeat(tf.cumsum(counts, exclusive=True), counts)
    return tf.gather(tf.cast(starts, tf.int32) + offsets, row) + within


def class_probabilities(model, ids):
    """The model's class probabilities as [batch, classes] numpy (a sigmoid head's p -> [1-p,
    p]); the Python-side twin of the `classify` signature, for comparisons."""
    p = keras.ops.convert_to_numpy(model(ids, training=False))
    return np.concatenate([1.0 - p, p], axis=-1) if p.shape[-1] == 1 else p


from lstm_zoo.litert import export_litert  # noqa: E402, F401  (LiteRT .tflite export: litert.py)
