"""tf.distribute for the tasks: strategies by name, input sharding, per-replica carried state.

`lstm-zoo train --strategy NAME` (and `lstm_zoo.tasks.train(strategy=NAME)`) trains under

- `default`: TensorFlow's default strategy (one device);
- `mirrored`: `tf.distribute.MirroredStrategy` over every local GPU (one CPU without GPUs);
- `multi-worker`: `tf.distribute.MultiWorkerMirroredStrategy` over the cluster that the
  `TF_CONFIG` environment variable describes (every worker runs the same command).

A `tf.distribute.Strategy` instance may be passed instead of a name (the tests pass a
MirroredStrategy over two logical CPUs). The global batch (`--batch-size`) is split evenly
over the replicas: the results equal those of one replica on the same global batches (within
float tolerance) when every replica's share holds as many loss terms (tokens or examples) as
the others, as Keras averages the loss per replica and sums the replicas' gradients.

Input pipelines are in memory (`tf.data.Dataset.from_tensor_slices`), so they are sharded by
data: `tf.data.experimental.AutoShardPolicy.DATA`; every worker builds the same pipeline and
takes its replicas' rows of each global batch.

A `tf.distribute.TPUStrategy` needs nothing more from the models (their shapes are static
with fixed-length batches and the zoo's loops are XLA-compiled), but no TPU was at hand, so
that path is untested and not offered by name.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

STRATEGY_NAMES = ("default", "mirrored", "multi-worker")


def make_strategy(strategy="default"):
    """The `tf.distribute.Strategy` named `strategy` (or `strategy` itself if it is one).

    Create it before any other TensorFlow work of the process: MultiWorkerMirroredStrategy
    configures the collective ops at startup.

    Raises:
        ValueError: an unknown name, or `multi-worker` without a usable TF_CONFIG.
    """
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    if strategy == "default":
        return tf.distribute.get_strategy()
    if strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if strategy == "multi-worker":
        check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"strategy must be one of {', '.join(STRATEGY_NAMES)}; got {strategy!r}")


def check_tf_config():
    """The parsed TF_CONFIG; ValueError naming what is missing from it."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise ValueError(
            "--strategy multi-worker reads the cluster from TF_CONFIG, which is not set "
            '(e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}})'
        )
    try:
        config = json.loads(text)
        workers = config["cluster"]["worker"]
        task = config["task"]
        index = int(task["index"])
        kind = task["type"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(f"TF_CONFIG is not a cluster description ({error!r}): {text}") from None
    if not isinstance(workers, list) or not workers:
        raise ValueError(f"TF_CONFIG: cluster.worker must be a non-empty list; got {workers!r}")
    if kind not in ("worker", "chief") or not 0 <= index < len(workers) + (kind == "chief"):
        raise ValueError(f"TF_CONFIG: task {task!r} is not one of the cluster's workers")
    return config


def worker_index(strategy):
    """This process's worker number (0 = the chief, which writes the run directory)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return 0
    kind, index = resolver.task_type, resolver.task_id
    if kind == "chief":
        return 0
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return index + 1 if has_chief else index


def is_chief(strategy):
    return worker_index(strategy) == 0


def shard_by_data(dataset):
    """`dataset` with tf.data auto-sharding by data (in-memory pipelines have no files)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def per_replica_batch(batch_size, strategy, flag="--batch-size"):
    """batch_size / replicas; ValueError unless it divides evenly."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ValueError(
            f"{flag} {batch_size} must be a multiple of the {replicas} replicas of the strategy"
        )
    return batch_size // replicas


def stateful_layers(model):
    """The recurrent layers of `model` that carry their state across batches."""
    return [layer for layer in _all_layers(model) if getattr(layer, "stateful", False)]


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def make_states_per_replica(model, strategy):
    """Give every stateful recurrent layer one state per replica (SyncOnRead variables).

    Keras creates a stateful layer's states as ordinary variables, which a strategy mirrors
    and cannot assign from inside a replica. Each replica carries the state of its own rows
    of the global batch (the same rows at every step), so each keeps its own copy. Call inside
    `strategy.scope()` after building the model; nothing changes under the default strategy.
    """
    import keras

    if strategy.num_replicas_in_sync == 1 and not _is_multi_worker(strategy):
        return
    for layer in stateful_layers(model):
        states = [
            keras.Variable(
                keras.ops.zeros(state.shape, dtype=state.dtype),
                trainable=False,
                dtype=state.dtype,
                name="rnn_state",
                synchronization="on_read",
                aggregation="only_first_replica",
            )
            for state in layer.states
        ]
        object.__setattr__(layer, "states", states)  # untracked, as Keras keeps them


def _is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def local_values(variable):
    """The per-replica tf.Variables behind a Keras (or tf) variable on this worker."""
    value = getattr(variable, "value", variable)
    value = getattr(variable, "_value", value)  # the tf.Variable under a Keras variable
    return tuple(getattr(value, "values", (value,)))


def build_before_fit(model, strategy, dataset):
    """Build the compiled metrics, losses and optimizer of `model` from one local batch.

    Under MultiWorkerMirroredStrategy, Keras 3 (3.15) `fit` and `evaluate` first reduce a
    distributed (inputs, targets) batch to build them, and that reduce fails on a tuple
    ("Attempt to convert a value (PerReplica...)"). Built here from one batch of the replica's
    size, the model skips that step. Its step logs become [1] vectors (see `_with_vector_logs`).
    Nothing changes under the other strategies.
    """
    if not _is_multi_worker(strategy) or getattr(model, "_lstm_zoo_built_for_fit", False):
        return
    replicas = strategy.num_replicas_in_sync
    batch = next(iter(dataset.take(1)))
    local = tf.nest.map_structure(lambda t: t[: max(t.shape[0] // replicas, 1)], batch)
    with strategy.scope():
        model._symbolic_build(data_batch=local)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None
    for name in ("train_step", "test_step"):
        setattr(model, name, _with_vector_logs(getattr(model, name)))
    model._lstm_zoo_built_for_fit = True


def _with_vector_logs(step):
    """`step` with its scalar logs as [1] vectors: Keras reduces the step logs of a
    MultiWorkerMirroredStrategy with a mean over axis 0, which a scalar does not have."""

    def vector_logs(data):
        logs = step(data)
        return tf.nest.map_structure(
            lambda v: tf.reshape(v, [1]) if tf.is_tensor(v) and v.shape.rank == 0 else v, logs
        )

    return vector_logs


def agreed_position(strategy, position):
    """The (epoch, batch) that every worker resumes from: the earliest of the workers' latest
    backups (None if any worker has none), so all restart at the same step."""
    if not _is_multi_worker(strategy):
        return position
    code = -1 if position is None else position[0] * 2**32 + position[1]
    values = strategy.experimental_distribute_values_from_function(
        lambda _: tf.constant([code], dtype=tf.int64)
    )
    earliest = int(tf.reduce_min(strategy.gather(values, axis=0)))
    return None if earliest < 0 else (earliest // 2**32, earliest % 2**32)
