"""Training and inference throughput of every registered recurrent layer vs keras.layers.LSTM.

The measurement lives in `lstm_zoo.bench` (also behind `lstm-zoo bench`); this script runs it at
the README's settings and writes JSON.

    python benchmarks/recurrent_throughput.py [--quick] [--layers zoo_lstm,lstm] [--json PATH]
    python benchmarks/recurrent_throughput.py --kernels [--json PATH]

`--kernels` runs the native-kernel study instead (`lstm_zoo.bench_kernels`): the kernel
against the XLA loop, keras.layers.LSTM and torch.nn.LSTM in float32 and bf16, at 64 x 64
steps (256/256) and at the ptb-small shape (20 x 20, 200/200), with the matmul roofline.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import lstm_zoo  # noqa: E402
from lstm_zoo.bench import (  # noqa: E402
    Shape,
    machine_description,
    markdown_table,
    throughput,
    write_json,
)

# ---------------------------------------------------------------- settings
SHAPE = Shape(batch=64, steps=64, inputs=256, units=256)
WARMUP, TIMED_STEPS, REPEATS = 5, 20, 3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", default=None, help="comma-separated registry names")
    parser.add_argument("--quick", action="store_true", help="fewer steps (smoke run)")
    parser.add_argument("--no-jit", action="store_true", help="skip the jit_compile=True rows")
    parser.add_argument("--json", default="benchmarks/out/recurrent_throughput.json")
    parser.add_argument("--kernels", action="store_true", help="the native-kernel study")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.kernels:
        return kernel_main(args, started)
    warmup, timed, repeats = (2, 3, 1) if args.quick else (WARMUP, TIMED_STEPS, REPEATS)
    names = args.layers.split(",") if args.layers else lstm_zoo.available_recurrent_layers()
    jit_settings = (False,) if args.no_jit else (False, True)
    rows = throughput(names, SHAPE, jit_settings, warmup, timed, repeats)
    machine = machine_description()
    wall = time.perf_counter() - started
    print()
    print(markdown_table(rows))
    print(f"\nmachine: {machine['processor']}, {machine['cpus']} cpus, TF {machine['tensorflow']}")
    print(f"wall time: {wall:.0f} s")
    config = {**SHAPE.__dict__, "warmup": warmup, "timed_steps": timed, "repeats": repeats}
    write_json(args.json, {"config": config, "machine": machine, "wall_s": wall, "rows": rows})


def kernel_main(args, started):
    from lstm_zoo import kernels
    from lstm_zoo.bench_kernels import SHAPES, kernel_study, markdown

    print(f"kernel: {kernels.status()}")
    warmup, timed, repeats = (1, 2, 1) if args.quick else (3, 10, 3)
    results = {}
    for label, shape in SHAPES.items():
        print(f"\n## {label}")
        layers = args.layers.split(",") if args.layers else None
        rows, peaks = kernel_study(shape, warmup, timed, repeats, layers=layers)
        results[label] = {"shape": shape.__dict__, "rows": rows, "roofline_gflops": peaks}
        print()
        print(markdown(rows))
        peak = peaks["fma_peak"]
        print("roofline (float32 FMA peak):", "-" if peak is None else f"{peak:.0f} GFLOP/s")
        print(
            "TF MatMul at the shapes, GFLOP/s:",
            {k: {n: round(v) for n, v in d.items()} for k, d in peaks["tf_matmul"].items()},
        )
    machine = machine_description()
    wall = time.perf_counter() - started
    print(f"\nmachine: {machine['processor']}, {machine['cpus']} cpus, TF {machine['tensorflow']}")
    print(f"wall time: {wall:.0f} s")
    path = args.json.replace("recurrent_throughput.json", "native_kernel.json")
    write_json(path, {"machine": machine, "wall_s": wall, "kernel": kernels.status(), **results})


if __name__ == "__main__":
    main()
