"""Training and inference throughput of every registered recurrent layer vs keras.layers.LSTM.

The measurement lives in `lstm_zoo.bench` (also behind `lstm-zoo bench`); this script runs it at
the README's settings and writes JSON.

    python benchmarks/recurrent_throughput.py [--quick] [--layers zoo_lstm,lstm] [--json PATH]
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
    args = parser.parse_args(argv)
    started = time.perf_counter()
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


if __name__ == "__main__":
    main()
