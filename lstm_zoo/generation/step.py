"""One-token steps of a language model: `next(token_ids, states) -> (logits, states)`.

Generation never re-runs the prefix: it carries the recurrent states of every layer and feeds
one token per step. A `StepModel` says how; `LanguageModelStep` builds one from a model of
`lstm_zoo.models.language_model` by its layer names, and any object with the same two methods
(`initial_states`, `next`) can drive the samplers, e.g. a hand-written distribution in a test.
"""

from __future__ import annotations

import weakref

import keras
import tensorflow as tf


class StepModel:
    """What the generation loop needs from a model: states and one step.

    Subclass it (or duck-type it) with:

    - `initial_states(batch_size) -> states`: a nest of float tensors [batch, ...].
    - `next(token_ids, states) -> (logits, new_states)`: token_ids int32 [batch], logits
      float [batch, vocab]; `new_states` has the structure and shapes of `states`.
    - optionally `advance(token_ids, states) -> new_states`: the states only (the prompt
      prefix needs no logits); the default calls `next` and drops the logits.

    Token id 0 is padding everywhere in lstm_zoo: the loop never generates it.
    """

    def initial_states(self, batch_size):
        raise NotImplementedError

    def next(self, token_ids, states):
        raise NotImplementedError

    def advance(self, token_ids, states):
        return self.next(token_ids, states)[1]


class LanguageModelStep(StepModel):
    """The step function of a `language_model` (any registered cell), from its layers.

    One step for token ids x_t [B]:

        e = E[x_t];  h^0 = e;  (h^l, s^l) = cell_l(h^{l-1}, s^l_{t-1})  for l = 1..L
        logits = Dense(h^L)              (or h^L P E^T with tied embeddings)

    computed with each recurrent layer's own cell (`layer.cell(x, states, training=False)`),
    so Keras's `LSTM`/`GRU` and every zoo layer work alike. Dropout is off. The weights are
    read live from the model's variables: a model trained further generates with its new
    weights. The model may be stateful with a fixed batch shape (the PTB presets): only its
    weights are used, never its stored states, and the batch size here is free.

    A padding token (id 0) leaves every state unchanged, as the masked full model does, so
    a left-padded prompt gives the same states as the unpadded one.

    Args:
        model: keras.Model. Built by `lstm_zoo.models.language_model` (layers named
            "token_embedding", "encoder_0".., and "logits" or a tied embedding with an optional
            "output_projection").

    Raises:
        ValueError: the model lacks these layers, or a recurrent layer that is not a
            forward, unidirectional `keras.layers.RNN`-style layer with a `cell`.
    """

    def __init__(self, model):
        self.model = model
        self.embedding = _get_layer(model, "token_embedding")
        if self.embedding is None:
            raise ValueError(
                f"model {model.name!r} has no layer named 'token_embedding'; build it with "
                "lstm_zoo.models.language_model"
            )
        self.layers = []
        while (layer := _get_layer(model, f"encoder_{len(self.layers)}")) is not None:
            cell = getattr(layer, "cell", None)
            if cell is None or getattr(layer, "go_backwards", False):
                raise ValueError(
                    f"layer {layer.name!r} ({type(layer).__name__}) is not a forward recurrent "
                    "layer with a `cell`; generation steps each layer's cell one token at a time"
                )
            self.layers.append(layer)
        if not self.layers:
            raise ValueError(f"model {model.name!r} has no recurrent layer named 'encoder_0'")
        self.logits_layer = _get_layer(model, "logits")
        self.projection = _get_layer(model, "output_projection")
        if self.logits_layer is None and "reverse" not in _call_arguments(self.embedding):
            raise ValueError(
                f"model {model.name!r} has no layer named 'logits' and its token_embedding "
                f"({type(self.embedding).__name__}) cannot produce logits (reverse=True): not a "
                "language model of lstm_zoo.models.language_model"
            )
        self.vocab_size = int(self.embedding.input_dim)
        self.state_sizes = [_state_sizes(layer.cell) for layer in self.layers]

    def initial_states(self, batch_size):
        dtype = self.layers[0].cell.compute_dtype
        return tuple(
            tuple(tf.zeros(tf.stack([batch_size, size]), dtype=dtype) for size in sizes)
            for sizes in self.state_sizes
        )

    def advance(self, token_ids, states):
        return self._recurrent_step(token_ids, states)[1]

    def next(self, token_ids, states):
        h, new_states = self._recurrent_step(token_ids, states)
        if self.logits_layer is not None:
            logits = self.logits_layer(h)
        else:
            if self.projection is not None:
                h = self.projection(h)
            logits = self.embedding(h, reverse=True)
        return logits, new_states

    def _recurrent_step(self, token_ids, states):
        token_ids = tf.convert_to_tensor(token_ids)
        keep = tf.not_equal(token_ids, 0)[:, None]
        h = self.embedding.call(token_ids)  # not __call__: no padding mask to carry along
        new_states = []
        for layer, layer_states in zip(self.layers, states):
            h, updated = layer.cell(h, list(layer_states), training=False)
            updated = updated if isinstance(updated, (list, tuple)) else [updated]
            new_states.append(
                tuple(tf.where(keep, new, old) for new, old in zip(updated, layer_states))
            )
        return h, tuple(new_states)


def _call_arguments(layer):
    import inspect

    return inspect.signature(layer.call).parameters


def _get_layer(model, name):
    try:
        return model.get_layer(name)
    except ValueError:
        return None


def _state_sizes(cell):
    sizes = cell.state_size
    sizes = list(sizes) if isinstance(sizes, (list, tuple)) else [sizes]
    return [int(size) for size in sizes]


_STEP_MODELS = weakref.WeakKeyDictionary()


def step_model(model):
    """The step model of `model`: a `StepModel` as is, or a cached `LanguageModelStep` for a
    `keras.Model` of the language-model factory.

    Raises:
        ValueError: neither a StepModel-like object nor a language model.
    """
    if isinstance(model, keras.Model):
        if model not in _STEP_MODELS:
            _STEP_MODELS[model] = LanguageModelStep(model)
        return _STEP_MODELS[model]
    if callable(getattr(model, "next", None)) and callable(getattr(model, "initial_states", None)):
        return model
    raise ValueError(
        "expected a language model (keras.Model from lstm_zoo.models.language_model) or a "
        f"StepModel with `initial_states` and `next`; got {type(model).__name__}"
    )


def run_prefix(step, tokens, num_steps, states):
    """Advance `states` through tokens[:, 0:num_steps] (no logits); num_steps may be a tensor.

    Args:
        step: StepModel.
        tokens: int32 [batch, time].
        num_steps: int32 scalar. Number of leading positions to feed.
        states: the step model's states before position 0.
    """
    advance = getattr(step, "advance", None) or (lambda ids, s: step.next(ids, s)[1])

    def body(t, states):
        return t + 1, advance(tf.gather(tokens, t, axis=1), states)

    _, states = tf.while_loop(
        lambda t, states: t < num_steps, body, (tf.constant(0, tf.int32), states)
    )
    return states
