"""Training and inference throughput of every registered recurrent layer vs keras.layers.LSTM.

Training step = forward + backward + SGD update of a layer returning all steps, loss =
mean(outputs^2); inference = forward only. Each step function is a tf.function, with and
without jit_compile. Reports tokens/s (batch * steps / second; median over timed steps after
warm-up, median over repeats) and the ratio to keras.layers.LSTM measured in the same process.
torch.nn.LSTM (oneDNN fused kernel) joins when torch is installed.

    python benchmarks/recurrent_throughput.py [--quick] [--layers zoo_lstm,lstm] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import lstm_zoo  # noqa: E402

# ---------------------------------------------------------------- settings
BATCH, STEPS, INPUTS, UNITS = 64, 64, 256, 256
WARMUP, TIMED_STEPS, REPEATS = 5, 20, 3
BASELINE = "lstm"  # keras.layers.LSTM


def _median_tokens_per_s(fn, warmup, timed, repeats):
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
    return BATCH * STEPS / statistics.median(medians)


def keras_step_functions(name, jit_compile, seed=0):
    """(train_step, infer_step) callables for the registered layer `name`."""
    tf.keras.utils.set_random_seed(seed) if hasattr(tf.keras, "utils") else None
    layer = lstm_zoo.recurrent_layer(name, UNITS, return_sequences=True)
    x = tf.constant(np.random.RandomState(seed).randn(BATCH, STEPS, INPUTS).astype("float32"))
    layer(x)
    weights = layer.trainable_variables
    lr = tf.constant(1e-3)

    @tf.function(jit_compile=jit_compile)
    def train():
        with tf.GradientTape() as tape:
            y = layer(x, training=True)
            loss = tf.reduce_mean(tf.square(y))
        grads = tape.gradient(loss, weights)
        for w, g in zip(weights, grads):
            w.assign_sub(lr * g)
        return loss

    @tf.function(jit_compile=jit_compile)
    def infer():
        return layer(x, training=False)

    def run_train():
        train().numpy()

    def run_infer():
        infer().numpy()

    return run_train, run_infer


def torch_step_functions():
    import torch

    torch.manual_seed(0)
    lstm = torch.nn.LSTM(INPUTS, UNITS, batch_first=True)
    optimizer = torch.optim.SGD(lstm.parameters(), lr=1e-3)
    x = torch.randn(BATCH, STEPS, INPUTS)

    def run_train():
        optimizer.zero_grad()
        y, _ = lstm(x)
        loss = (y * y).mean()
        loss.backward()
        optimizer.step()

    def run_infer():
        with torch.no_grad():
            lstm(x)

    return run_train, run_infer, f"torch {torch.__version__}, {torch.get_num_threads()} threads"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default=None, help="comma-separated registry names")
    parser.add_argument("--quick", action="store_true", help="fewer steps (smoke run)")
    parser.add_argument("--no-jit", action="store_true", help="skip the jit_compile=True rows")
    parser.add_argument("--json", default="benchmarks/out/recurrent_throughput.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    warmup, timed, repeats = (2, 3, 1) if args.quick else (WARMUP, TIMED_STEPS, REPEATS)
    names = args.layers.split(",") if args.layers else lstm_zoo.available_recurrent_layers()
    if BASELINE not in names:
        names = [BASELINE, *names]
    names = [BASELINE] + [n for n in names if n != BASELINE]

    rows = []
    for jit in (False,) if args.no_jit else (False, True):
        baseline = None
        for name in names:
            train, infer = keras_step_functions(name, jit)
            row = {
                "layer": name,
                "jit_compile": jit,
                "train_tokens_per_s": _median_tokens_per_s(train, warmup, timed, repeats),
                "infer_tokens_per_s": _median_tokens_per_s(infer, warmup, timed, repeats),
            }
            baseline = baseline or row
            row["train_ratio"] = row["train_tokens_per_s"] / baseline["train_tokens_per_s"]
            row["infer_ratio"] = row["infer_tokens_per_s"] / baseline["infer_tokens_per_s"]
            rows.append(row)
            print(_format_row(row), flush=True)
    torch_note = None
    try:
        train, infer, torch_note = torch_step_functions()
    except ImportError:
        pass
    if torch_note:
        base = rows[0]
        row = {
            "layer": "torch.nn.LSTM",
            "jit_compile": None,
            "train_tokens_per_s": _median_tokens_per_s(train, warmup, timed, repeats),
            "infer_tokens_per_s": _median_tokens_per_s(infer, warmup, timed, repeats),
        }
        row["train_ratio"] = row["train_tokens_per_s"] / base["train_tokens_per_s"]
        row["infer_ratio"] = row["infer_tokens_per_s"] / base["infer_tokens_per_s"]
        rows.append(row)
        print(_format_row(row))

    machine = {
        "platform": platform.platform(),
        "processor": _cpu_name(),
        "cpus": os.cpu_count(),
        "tensorflow": tf.__version__,
        "keras": __import__("keras").__version__,
        "torch": torch_note,
    }
    print()
    print(markdown_table(rows))
    wall = time.perf_counter() - started
    print(f"\nmachine: {machine['processor']}, {machine['cpus']} cpus, TF {tf.__version__}")
    print(f"wall time: {wall:.0f} s")
    config = {
        "batch": BATCH,
        "steps": STEPS,
        "inputs": INPUTS,
        "units": UNITS,
        "warmup": warmup,
        "timed_steps": timed,
        "repeats": repeats,
    }
    os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)
    with open(args.json, "w") as f:
        json.dump({"config": config, "machine": machine, "wall_s": wall, "rows": rows}, f, indent=2)
    print(f"wrote {args.json}")


def _format_row(row):
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


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    main()
