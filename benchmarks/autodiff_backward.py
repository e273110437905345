"""Hand-written vs automatic-differentiation backward of the fast loop, for the cells that have
a hand-written one (the cell contract keeps it only where it is faster).

Times a training step (forward + backward + SGD update, no jit around the layer; the loops are
XLA-compiled) of each cell at the README's throughput shape with its hand-written backward and
with the per-step VJP of `step` that every other cell gets, in one process, interleaved.

    python benchmarks/autodiff_backward.py [--quick] [--cells zoo_lstm,peephole,coupled,zoo_gru]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from lstm_zoo.bench import Shape, keras_step_functions, machine_description, median_seconds  # noqa: E402
from lstm_zoo.layers.registry import registry_entries  # noqa: E402


class _ForcedAutodiff:
    """Within the block, the cell class reports no hand-written backward (autodiff runs)."""

    def __init__(self, cell_class):
        self.cell_class = cell_class

    def __enter__(self):
        self.cell_class.hand_written_backward = property(lambda cell: False)

    def __exit__(self, *exc):
        del self.cell_class.hand_written_backward


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="zoo_lstm,peephole,coupled,zoo_gru")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    shape = Shape(batch=8, steps=8, inputs=16, units=16) if args.quick else Shape()
    warmup, timed, repeats = (2, 3, 1) if args.quick else (3, 10, 3)
    factories = {e.name: e.factory for e in registry_entries()}
    started = time.perf_counter()
    print(f"machine: {machine_description()}; shape {shape}")
    print("| cell | hand-written train tok/s | autodiff train tok/s | hand-written / autodiff |")
    print("|---|---:|---:|---:|")
    tokens = shape.batch * shape.steps
    for name in args.cells.split(","):
        cell_class = factories[name].cell_class
        train_hand, _ = keras_step_functions(name, False, shape)
        with _ForcedAutodiff(cell_class):
            train_auto, _ = keras_step_functions(name, False, shape)
            train_auto()  # traces the autodiff loop while the override is on
        # interleave the timings: machine noise hits both alike
        hand = median_seconds(train_hand, warmup, timed, repeats)
        with _ForcedAutodiff(cell_class):
            auto = median_seconds(train_auto, warmup, timed, repeats)
        print(f"| {name} | {tokens / hand:,.0f} | {tokens / auto:,.0f} | {auto / hand:.2f}x |")
    print(f"wall: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
