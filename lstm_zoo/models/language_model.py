"""Language models: token ids [batch, time] -> next-token logits [batch, time, vocab]."""

from __future__ import annotations

import keras

from lstm_zoo.layers.embedding import ReversibleEmbedding
from lstm_zoo.layers.registry import recurrent_layer
from lstm_zoo.models.metrics import Perplexity
from lstm_zoo.validation import check_bool, check_int, check_number


def language_model(
    vocab_size,
    cell="lstm",
    embedding_dim=None,
    units=200,
    num_layers=2,
    dropout=0.0,
    tie_embeddings=False,
    init_scale=None,
    batch_size=None,
    num_steps=None,
    stateful=False,
    name="language_model",
    **layer_kwargs,
):
    """A stacked recurrent language model (Zaremba et al. 2014 when `cell="lstm"`).

    Embedding (index 0 = padding, masked) -> Dropout -> num_layers x [recurrent layer ->
    Dropout] -> logits (a Dense layer, or the transposed embedding with `tie_embeddings`).
    Dropout acts on the non-recurrent connections only, independently per step, as in Zaremba.

    Args:
        vocab_size: int. Number of token ids, padding (0) included.
        cell: str. A name of the recurrent-layer registry (`lstm_zoo.available_recurrent_layers`).
        embedding_dim: int. Embedding width (default: `units`).
        units: int. Width of every recurrent layer.
        num_layers: int. Number of stacked recurrent layers.
        dropout: float. Dropout rate on the embedding output and every layer output.
        tie_embeddings: bool. Share the embedding matrix with the output layer; needs
            `embedding_dim == units` or adds a projection to `embedding_dim`.
        init_scale: float or None. Initialize every weight uniformly in [-s, s] (the PTB
            presets; forget-gate bias then starts at 0 too, as in the tutorial's cells).
        batch_size, num_steps: fixed input shape; needed for `stateful=True`.
        stateful: bool. Carry recurrent states across batches (truncated BPTT over one stream).
        **layer_kwargs: passed to every recurrent layer.

    Returns:
        An uncompiled `keras.Model` (use `compile_language_model` or your own compile).
    """
    check_int("vocab_size", vocab_size, low=2)
    check_int("num_layers", num_layers, low=1)
    check_int("embedding_dim", embedding_dim, none=True)
    check_number("dropout", dropout, 0.0, 1.0, high_open=True)
    check_number("init_scale", init_scale, 0.0, low_open=True, none=True)
    check_int("batch_size", batch_size, none=True)
    check_int("num_steps", num_steps, none=True)
    check_bool("tie_embeddings", tie_embeddings)
    check_bool("stateful", stateful)
    if stateful and batch_size is None:
        raise ValueError("stateful=True needs a fixed batch_size")
    embedding_dim = units if embedding_dim is None else embedding_dim
    init = keras.initializers.RandomUniform(-init_scale, init_scale) if init_scale else None
    weight_init = (
        {}
        if init is None
        else {
            "kernel_initializer": init,
            "recurrent_initializer": init,
            "bias_initializer": init,
        }
    )

    # Layers.
    embedding = ReversibleEmbedding(
        vocab_size,
        embedding_dim,
        mask_zero=True,
        embeddings_initializer=init or "uniform",
        name="token_embedding",
    )
    encoder = []
    for index in range(num_layers):
        layer = recurrent_layer(
            cell,
            units,
            return_sequences=True,
            stateful=stateful,
            name=f"encoder_{index}",
            **weight_init,
            **layer_kwargs,
        )
        if init is not None and getattr(layer.cell, "unit_forget_bias", False):
            layer.cell.unit_forget_bias = False  # read at build time: plain uniform bias
        encoder.append(layer)
    if tie_embeddings:
        projection = (
            keras.layers.Dense(embedding_dim, name="output_projection", **_dense_init(init))
            if embedding_dim != units
            else None
        )
    else:
        logits_layer = keras.layers.Dense(vocab_size, name="logits", **_dense_init(init))

    # Functional graph.
    if stateful or num_steps is not None:
        inputs = keras.Input(batch_shape=(batch_size, num_steps), dtype="int32", name="tokens")
    else:
        inputs = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = embedding(inputs)
    x = keras.layers.Dropout(dropout, name="embedding_dropout")(x)
    for index, layer in enumerate(encoder):
        x = layer(x)
        x = keras.layers.Dropout(dropout, name=f"encoder_{index}_dropout")(x)
    if tie_embeddings:
        if projection is not None:
            x = projection(x)
        logits = embedding(x, reverse=True)
    else:
        logits = logits_layer(x)
    return keras.Model(inputs, logits, name=name)


def _dense_init(init):
    return {} if init is None else {"kernel_initializer": init, "bias_initializer": init}


def compile_language_model(
    model, learning_rate=1.0, max_grad_norm=5.0, optimizer=None, num_steps=None, **compile_kwargs
):
    """SGD with global-norm clipping (the PTB recipe), token cross-entropy and perplexity.

    The loss is averaged over the non-padding target tokens: Keras applies the embedding's
    padding mask (id 0) to the per-token losses.

    Args:
        num_steps: int or None. The TensorFlow PTB tutorial minimizes the loss summed over its
            `num_steps` time steps (averaged over the batch). Given `num_steps`, SGD's learning
            rate is multiplied by it and the clipping norm divided by it, which gives exactly
            the tutorial's updates with Keras's per-token mean loss.
        **compile_kwargs: passed to `model.compile` (e.g. steps_per_execution).
    """
    if optimizer is None:
        scale = num_steps or 1
        optimizer = keras.optimizers.SGD(
            learning_rate * scale, global_clipnorm=max_grad_norm / scale
        )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[Perplexity()],
        **compile_kwargs,
    )
    return model


class ResetStatesAtEpochAndEvaluation(keras.callbacks.Callback):
    """Reset stateful recurrent layers at every epoch start and before and after evaluation,
    so no state leaks from training into validation or from one pass into the next."""

    def _reset(self):
        for layer in self.model.layers:
            if getattr(layer, "stateful", False):
                layer.reset_state()

    def on_epoch_begin(self, epoch, logs=None):
        self._reset()

    def on_test_begin(self, logs=None):
        self._reset()

    def on_test_end(self, logs=None):
        self._reset()


class EpochLearningRateDecay(keras.callbacks.Callback):
    """lr(epoch) = lr0 * decay ** max(epoch + 1 - decay_after_epoch, 0)  (epoch from 0).

    `learning_rate` is the optimizer's rate at epoch 0 (after any `num_steps` scaling)."""

    def __init__(self, learning_rate, decay, decay_after_epoch):
        super().__init__()
        self.learning_rate, self.decay, self.decay_after_epoch = (
            learning_rate,
            decay,
            decay_after_epoch,
        )

    def rate(self, epoch):
        return self.learning_rate * self.decay ** max(epoch + 1 - self.decay_after_epoch, 0)

    def on_epoch_begin(self, epoch, logs=None):
        self.model.optimizer.learning_rate.assign(self.rate(epoch))
