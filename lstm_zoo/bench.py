"""Training and inference throughput of registered recurrent layers vs keras.layers.LSTM.

Training step = forward + backward + SGD update of a layer returning all steps, loss =
mean(outputs^2); inference = forward only. Each step function is a tf.function, with or without
jit_compile. Tokens/s = batch * steps / second (median over timed steps after warm-up, median
over repeats); ratios are to keras.layers.LSTM measured in the same process and setting.
torch.nn.LSTM joins when torch is installed, in float32 and under
`torch.autocast("cpu", torch.bfloat16)` (bf16 matmuls, float32 parameters and optimizer).
`lstm-zoo bench` and `benchmarks/recurrent_throughput.py` both run this.
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

BASELINE = "lstm"  # keras.layers.LSTM


@dataclass(frozen=True)
class Shape:
    """Benchmark sizes: batch, time steps, input features, units."""

    batch: int = 64
    steps: int = 64
    inputs: int = 256
    units: int = 256


def median_seconds(fn, warmup, timed, repeats):
    """Median over `repeats` of the median time of `timed` calls, after `warmup` calls."""
    for _ in range(warmup):
        fn()
    medians = []
    for _ in range(repeats):
        times = []
        for _ in range(timed):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times))
    return statistics.median(medians)


def keras_step_functions(name, jit_compile, shape, seed=0, path="auto", dtype=None):
    """(train_step, infer_step) callables for the registered layer `name`.

    path: "auto" (the native CPU kernel where it applies, `lstm_zoo.kernels`), or "xla"
    (the XLA loop: the steps are traced inside `lstm_zoo.kernels.disabled()`).
    dtype: None (float32) or a Keras dtype policy name such as "mixed_bfloat16".
    """
    import contextlib

    from lstm_zoo import kernels
    from lstm_zoo.layers.registry import recurrent_layer

    tf.random.set_seed(seed)
    options = {"dtype": dtype} if dtype else {}
    layer = recurrent_layer(name, shape.units, return_sequences=True, **options)
    data = np.random.RandomState(seed).randn(shape.batch, shape.steps, shape.inputs)
    x = tf.constant(data.astype("float32"))
    layer(x)
    weights = layer.trainable_variables
    lr = tf.constant(1e-3)

    @tf.function(jit_compile=jit_compile)
    def train():
        with tf.GradientTape() as tape:
            y = tf.cast(layer(x, training=True), tf.float32)
            loss = tf.reduce_mean(tf.square(y))
        for w, g in zip(weights, tape.gradient(loss, weights)):
            w.assign_sub(lr * tf.cast(g, w.dtype))
        return loss

    @tf.function(jit_compile=jit_compile)
    def infer():
        return layer(x, training=False)

    def scope():
        return kernels.disabled() if path == "xla" else contextlib.nullcontext()

    def run_train():
        with scope():
            return train().numpy()

    def run_infer():
        with scope():
            return infer().numpy()

    return run_train, run_infer


def torch_step_functions(shape, bfloat16=False):
    """(train_step, infer_step, note) for torch.nn.LSTM, float32 or under bf16 autocast;
    ImportError without torch."""
    import contextlib

    import torch

    def precision():
        if bfloat16:
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(shape.inputs, shape.units, batch_first=True)
    optimizer = torch.optim.SGD(lstm.parameters(), lr=1e-3)
    x = torch.randn(shape.batch, shape.steps, shape.inputs)

    def run_train():
        optimizer.zero_grad()
        with precision():
            y, _ = lstm(x)
            loss = (y.float() * y.float()).mean()
        loss.backward()
        optimizer.step()

    def run_infer():
        with torch.no_grad(), precision():
            lstm(x)

    return run_train, run_infer, f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def throughput(
    names, shape=Shape(), jit_settings=(False, True), warmup=5, timed=20, repeats=3, log=print
):
    """Rows {layer, jit_compile, train/infer tokens_per_s and ratio to keras LSTM}.

    `names` are registry names; keras.layers.LSTM ("lstm") is always measured first as the
    baseline of each jit setting; torch.nn.LSTM is added when installed.
    """
    names = [BASELINE] + [n for n in names if n != BASELINE]
    tokens = shape.batch * shape.steps
    rows = []

    def measure(layer, jit, train, infer, baseline):
        row = {
            "layer": layer,
            "jit_compile": jit,
            "train_tokens_per_s": tokens / median_seconds(train, warmup, timed, repeats),
            "infer_tokens_per_s": tokens / median_seconds(infer, warmup, timed, repeats),
        }
        baseline = baseline or row
        for kind in ("train", "infer"):
            base = baseline[f"{kind}_tokens_per_s"]
            row[f"{kind}_ratio"] = row[f"{kind}_tokens_per_s"] / base
        rows.append(row)
        log(format_row(row))
        return row

    for jit in jit_settings:
        baseline = None
        for name in names:
            row = measure(name, jit, *keras_step_functions(name, jit, shape), baseline)
            baseline = baseline or row
    for bfloat16, label in ((False, "torch.nn.LSTM"), (True, "torch.nn.LSTM bf16")):
        try:
            train, infer, _ = torch_step_functions(shape, bfloat16=bfloat16)
        except ImportError:
            return rows
        try:
            measure(label, None, train, infer, rows[0])
        except RuntimeError as error:  # oneDNN has no bf16 LSTM primitive on some CPUs
            log(f"{label}: not run on this CPU: {str(error).splitlines()[0]}")
    return rows


def format_row(row):
    jit = {None: "-", True: "yes", False: "no"}[row["jit_compile"]]
    return (
        f"{row['layer']:>14} jit={jit:<3} train {row['train_tokens_per_s']:>9.0f} tok/s "
        f"({row['train_ratio']:.2f}x)  infer {row['infer_tokens_per_s']:>9.0f} tok/s "
        f"({row['infer_ratio']:.2f}x)"
    )


def markdown_table(rows):
    lines = [
        "| layer | jit_compile | train tokens/s | train vs keras LSTM | infer tokens/s | "
        "infer vs keras LSTM |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        jit = {None: "-", True: "yes", False: "no"}[r["jit_compile"]]
        lines.append(
            f"| {r['layer']} | {jit} | {r['train_tokens_per_s']:,.0f} | {r['train_ratio']:.2f}x "
            f"| {r['infer_tokens_per_s']:,.0f} | {r['infer_ratio']:.2f}x |"
        )
    return "\n".join(lines)


def machine_description():
    """{platform, processor, cpus, tensorflow, keras} of this machine."""
    import keras

    processor = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            processor = next(
                line.split(":", 1)[1].strip() for line in f if line.startswith("model name")
            )
    except (OSError, StopIteration):
        pass
    return {
        "platform": platform.platform(),
        "processor": processor,
        "cpus": os.cpu_count(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def write_json(path, result):
    """Write a benchmark's result as indented JSON (creating the folder) and say where."""
    import json

    os.makedirs(os.path.dirname(str(path)) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {path}")
