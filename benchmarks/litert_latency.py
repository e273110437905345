"""LiteRT latency and size: per sequence, in the ai-edge-litert interpreter, one thread.

For a sentiment classifier (vocabulary VOCAB, embedding EMBEDDING, one recurrent layer of
UNITS, last state, sigmoid head) at batch 1 and LENGTHS steps, for each cell in CELLS and each
loop in LOOPS that the cell allows (fused UNIDIRECTIONAL_SEQUENCE_LSTM for the LSTM-layout
layers, a WHILE loop over the cell, or an unrolled graph), and for the fused LSTM in each of
QUANTIZATIONS: the .tflite size and the median latency of REPEATS invocations after WARMUP
(interpreter with its default XNNPACK delegate, num_threads=1). Beside them, the SavedModel of
the same model (`model.export`, Keras 3's serving endpoint) with TensorFlow on one thread:
its size on disk and its median latency per call.

    python benchmarks/litert_latency.py      # prints a table, writes benchmarks/out/litert.json
    python benchmarks/litert_latency.py --cells peephole,coupled --lengths 16,32,64
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from lstm_zoo.bench import machine_description, write_json  # noqa: E402
from lstm_zoo.litert import export_litert, litert_interpreter  # noqa: E402
from lstm_zoo.models import sentiment_classifier  # noqa: E402

VOCAB, EMBEDDING, UNITS = 5000, 64, 128
LENGTHS = (16, 64)
CELLS = ("lstm", "zoo_lstm", "peephole", "coupled", "gru", "zoo_gru")
LOOPS = ("fused", "while", "unroll")
QUANTIZATIONS = ("float32", "dynamic_int8", "float16")
WARMUP, REPEATS = 20, 200
SAVEDMODEL_REPEATS = 50
OUTPUT = os.path.join(os.path.dirname(__file__), "out", "litert.json")


def median_seconds(function, warmup, repeats):
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def litert_latency(path, tokens):
    interpreter = litert_interpreter(path, num_threads=1)
    index = interpreter.get_input_details()[0]["index"]

    def invoke():
        interpreter.set_tensor(index, tokens)
        interpreter.invoke()

    return median_seconds(invoke, WARMUP, REPEATS)


def directory_bytes(path):
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def savedmodel_row(model, cell, length, tokens, workdir):
    path = os.path.join(workdir, f"{cell}_{length}_savedmodel")
    model.export(path, verbose=False)
    served = tf.saved_model.load(path)
    x = tf.constant(tokens)
    return {
        "cell": cell,
        "length": length,
        "format": "SavedModel",
        "loop": "keras",
        "quantization": "float32",
        "bytes": directory_bytes(path),
        "ms": 1e3 * median_seconds(lambda: served.serve(x), 5, SAVEDMODEL_REPEATS),
    }


def parse_arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default=",".join(CELLS), help="registry names, comma-separated")
    parser.add_argument(
        "--lengths", default=",".join(map(str, LENGTHS)), help="steps, comma-separated"
    )
    parser.add_argument("--output", default=OUTPUT, help="JSON file to write")
    return parser.parse_args()


def main():
    arguments = parse_arguments()
    cells = tuple(c for c in arguments.cells.split(",") if c)
    lengths = tuple(int(n) for n in arguments.lengths.split(",") if n)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    started = time.time()
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        for length in lengths:
            tokens = np.random.RandomState(0).randint(1, VOCAB, size=(1, length)).astype("int32")
            for cell in cells:
                keras.utils.set_random_seed(0)
                model = sentiment_classifier(
                    vocab_size=VOCAB, embedding_dim=EMBEDDING, cell=cell, units=UNITS
                )
                model(tokens)
                for loop in LOOPS:
                    quantizations = QUANTIZATIONS if loop == "fused" else ("float32",)
                    for quantization in quantizations:
                        name = f"{cell}_{length}_{loop}_{quantization}.tflite"
                        path = os.path.join(workdir, name)
                        info = export_litert(
                            model,
                            path,
                            sequence_length=length,
                            recurrence=loop,
                            quantization=quantization,
                        )
                        used = info.recurrences["encoder_0"]
                        if used != loop:
                            break  # this cell has no fused kernel
                        rows.append(
                            {
                                "cell": cell,
                                "length": length,
                                "format": "LiteRT",
                                "loop": loop,
                                "quantization": quantization,
                                "bytes": info.size_bytes,
                                "ms": 1e3 * litert_latency(path, tokens),
                            }
                        )
                        print(rows[-1], flush=True)
                rows.append(savedmodel_row(model, cell, length, tokens, workdir))
                print(rows[-1], flush=True)
    wall = time.time() - started
    print()
    print("| cell | steps | format | loop | weights | size (KB) | ms / sequence |")
    print("|---|---:|---|---|---|---:|---:|")
    for r in rows:
        print(
            f"| {r['cell']} | {r['length']} | {r['format']} | {r['loop']} | "
            f"{r['quantization']} | {r['bytes'] / 1024:,.0f} | {r['ms']:.3f} |"
        )
    machine = machine_description()
    print(f"\n{machine}, wall {wall:.0f} s")
    write_json(
        arguments.output,
        {
            "settings": {
                "vocab": VOCAB,
                "embedding": EMBEDDING,
                "units": UNITS,
                "cells": cells,
                "lengths": lengths,
                "batch": 1,
                "threads": 1,
                "warmup": WARMUP,
                "repeats": REPEATS,
            },
            "machine": machine,
            "wall_s": wall,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
