"""The native CPU kernel against the XLA loop, keras.layers.LSTM and torch.nn.LSTM, same run.

For each shape, rows of training and inference tokens/s (`lstm_zoo.bench` step functions):
keras.layers.LSTM (float32 and mixed_bfloat16), every zoo layer with a native kernel on the
XLA loop (float32) and on the kernel (float32 and mixed_bfloat16), and torch.nn.LSTM (float32
and under `torch.autocast("cpu", torch.bfloat16)`). Ratios are to torch.nn.LSTM float32 (for
bf16 rows: to torch's bf16 autocast) and to keras.layers.LSTM float32.

The roofline is the machine's float32 FMA peak, measured in the same run by the kernel
library's `ZooFmaPeak` op (every intra-op thread running independent vector FMA chains): each
row's share is the time its matmul FLOPs would take at that peak over its measured time. No
GEMM runs faster, so a share says how much of the machine a row uses. bf16 rows get a share
where bf16 is emulated in the fp32 GEMM (the same peak); with bf16 instructions (AMX,
AVX-512-BF16) the bf16 peak is not measured and the share is left out. For reference the run
also measures TF's MatMul at the shapes' two products (the input projection [batch * steps,
inputs] x [inputs, 4 units], and 64 dependent per-step [batch, units] x [units, 4 units]
products in one graph), float32 and bfloat16: the earlier reference, which TF's per-op cost
put below what the kernel's own GEMM reaches.
"""

from __future__ import annotations

import time

import numpy as np
import tensorflow as tf

from lstm_zoo import kernels
from lstm_zoo.bench import Shape, keras_step_functions, median_seconds, torch_step_functions

KERNEL_LAYERS = (
    "zoo_lstm",
    "peephole",
    "coupled",
    "zoo_gru",
    "mut1",
    "mut2",
    "mut3",
    "layer_norm_lstm",
    "clockwork",
    "depth_gated",
    "mogrifier",
)
# (input, recurrent) blocks of units wide in each matmul: MUT1 and MUT2 read x_t itself (no
# input map at these shapes, where inputs = units) and MUT1 has no recurrent z block
GATE_BLOCKS = {
    "lstm": (4, 4),
    "zoo_lstm": (4, 4),
    "peephole": (4, 4),
    "coupled": (3, 3),
    "zoo_gru": (3, 3),
    "mut1": (2, 2),
    "mut2": (2, 3),
    "mut3": (3, 3),
    "layer_norm_lstm": (4, 4),
    "clockwork": (1, 1),
    # depth 2: layer 1's x W (4 blocks) before the loop; per step U_1 (4), W_2 (5), U_2 (4)
    "depth_gated": (4, 13),
    # 5 rounds: nothing before the loop; per step Q^1, R^2, Q^3, R^4, Q^5 (1 each), W (4), U (4)
    "mogrifier": (0, 13),
}
SHAPES = {
    "64x64, 256/256": Shape(batch=64, steps=64, inputs=256, units=256),
    "ptb-small 20x20, 200/200": Shape(batch=20, steps=20, inputs=200, units=200),
}


def matmul_flops(shape, blocks, train):
    """Matmul FLOPs of one step function: the input projection and the recurrent products
    (training: forward, then dX and dW, dh and dU: three times the forward)."""
    forward = 2 * shape.batch * shape.steps * (shape.inputs + shape.units) * blocks * shape.units
    return 3 * forward if train else forward


def _matmul_rate(m, k, n, dtype, repeats=64):
    """GFLOP/s of `repeats` dependent [m, k] x [k, n] matmuls in one graph (median of 5):
    each product's first k columns feed the next (as h_t feeds step t + 1), so none can be
    merged or skipped."""
    a = tf.cast(tf.random.normal([m, k]), dtype)
    b = tf.cast(tf.random.normal([k, n]) * (1.0 / k), dtype)

    @tf.function
    def run():
        h = a
        for _ in range(repeats):
            h = tf.matmul(h, b)[:, :k]
        return h

    run()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        run().numpy()
        times.append(time.perf_counter() - start)
    return 2.0 * m * k * n * repeats / float(np.median(times)) / 1e9


def fma_peak(seconds=0.3):
    """The machine's float32 FMA peak in GFLOP/s over TensorFlow's intra-op threads (best of
    3 runs of `ZooFmaPeak`), or None where the kernel library does not load."""
    from lstm_zoo.kernels import loader

    ops = loader.load()
    if ops is None:
        return None
    return max(float(ops.zoo_fma_peak(seconds=seconds)) for _ in range(3))


def roofline(shape):
    """{"fma_peak": GFLOP/s or None, "tf_matmul": {precision: {"projection", "step":
    GFLOP/s}}} at this shape (4 gate blocks)."""
    width = 4 * shape.units
    return {
        "fma_peak": fma_peak(),
        "tf_matmul": {
            name: {
                "projection": _matmul_rate(
                    shape.batch * shape.steps, shape.inputs, width, dtype, repeats=4
                ),
                "step": _matmul_rate(shape.batch, shape.units, width, dtype),
            }
            for name, dtype in (("float32", tf.float32), ("bfloat16", tf.bfloat16))
        },
    }


def kernel_study(shape, warmup=3, timed=10, repeats=3, torch=True, log=print, layers=None):
    """Rows {layer, path, precision, train/infer tokens_per_s, ratios, roofline shares};
    `layers`: the zoo layers to measure (default every one with a native kernel)."""
    tokens = shape.batch * shape.steps
    rows = []

    def measure(layer, path, precision, train, infer):
        row = {
            "layer": layer,
            "path": path,
            "precision": precision,
            "train_tokens_per_s": tokens / median_seconds(train, warmup, timed, repeats),
            "infer_tokens_per_s": tokens / median_seconds(infer, warmup, timed, repeats),
        }
        rows.append(row)
        log(
            f"{layer:>14} {path:>6} {precision:>14}  train {row['train_tokens_per_s']:>9.0f}"
            f"  infer {row['infer_tokens_per_s']:>9.0f} tok/s"
        )
        return row

    measure("lstm", "keras", "float32", *keras_step_functions("lstm", False, shape))
    measure(
        "lstm",
        "keras",
        "mixed_bfloat16",
        *keras_step_functions("lstm", False, shape, dtype="mixed_bfloat16"),
    )
    for name in layers or KERNEL_LAYERS:
        measure(name, "xla", "float32", *keras_step_functions(name, False, shape, path="xla"))
        measure(name, "native", "float32", *keras_step_functions(name, False, shape))
        measure(
            name,
            "native",
            "mixed_bfloat16",
            *keras_step_functions(name, False, shape, dtype="mixed_bfloat16"),
        )
    if torch:
        for bfloat16, precision in ((False, "float32"), (True, "bf16 autocast")):
            try:
                train, infer, _ = torch_step_functions(shape, bfloat16=bfloat16)
                measure("torch.nn.LSTM", "torch", precision, train, infer)
            except ImportError:
                log("torch is not installed: no torch rows")
                break
            except RuntimeError as error:  # oneDNN has no bf16 LSTM primitive on some CPUs
                log(f"torch.nn.LSTM {precision}: not run here: {str(error).splitlines()[0]}")
    peaks = roofline(shape)
    _add_ratios(rows, shape, peaks)
    return rows, peaks


def _add_ratios(rows, shape, peaks):
    def find(layer, precision):
        return next((r for r in rows if r["layer"] == layer and r["precision"] == precision), None)

    keras_fp32 = find("lstm", "float32")
    torch_fp32 = find("torch.nn.LSTM", "float32")
    torch_bf16 = find("torch.nn.LSTM", "bf16 autocast")
    emulated_bf16 = kernels.status()["bf16"].startswith("emulated")
    for row in rows:
        bf16 = row["precision"] != "float32"
        peer = torch_bf16 if bf16 else torch_fp32
        input_blocks, recurrent_blocks = GATE_BLOCKS.get(row["layer"], (4, 4))
        # the FLOPs of a step function's matmuls at the FMA peak
        peak = peaks["fma_peak"] if (emulated_bf16 or not bf16) else None
        for kind, train in (("train", True), ("infer", False)):
            rate = row[f"{kind}_tokens_per_s"]
            row[f"{kind}_vs_keras"] = rate / keras_fp32[f"{kind}_tokens_per_s"]
            row[f"{kind}_vs_torch"] = rate / peer[f"{kind}_tokens_per_s"] if peer else None
            seconds = (shape.batch * shape.steps) / rate
            projection = 2 * shape.batch * shape.steps * shape.inputs * input_blocks * shape.units
            recurrent = 2 * shape.batch * shape.steps * shape.units * recurrent_blocks * shape.units
            factor = 3 if train else 1
            ideal = factor * (projection + recurrent) / 1e9 / peak if peak else None
            row[f"{kind}_roofline_share"] = ideal / seconds if ideal else None


def markdown(rows):
    lines = [
        "| layer | path | precision | train tok/s | vs torch | vs keras | roofline | "
        "infer tok/s | vs torch | vs keras | roofline |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def ratio(value):
        return "-" if value is None else f"{value:.2f}x"

    def share(value):
        return "-" if value is None else f"{value:.0%}"

    for r in rows:
        lines.append(
            f"| {r['layer']} | {r['path']} | {r['precision']} | "
            f"{r['train_tokens_per_s']:,.0f} | {ratio(r['train_vs_torch'])} | "
            f"{ratio(r['train_vs_keras'])} | {share(r['train_roofline_share'])} | "
            f"{r['infer_tokens_per_s']:,.0f} | {ratio(r['infer_vs_torch'])} | "
            f"{ratio(r['infer_vs_keras'])} | {share(r['infer_roofline_share'])} |"
        )
    return "\n".join(lines)
