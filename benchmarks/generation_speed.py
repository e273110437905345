"""Generation speed: tokens/s and the per-token cost against one recurrent step of the model.

For a ptb-small-sized language model (vocab 10000, 2 x 200, zoo_lstm and keras lstm), times
`generate` (greedy and beam 5, batch 1 and 32, with and without XLA) and three references at
the same batch and jit setting:

- step call: one call of the compiled step function (embedding + every layer's cell step +
  logits; `LanguageModelStep.next`) from Python, i.e. what one token costs with a Python loop
  around a compiled step;
- step in loop: one iteration of a compiled `tf.while_loop` that only runs the step function
  (feeding back a fixed token): the recurrent step without any per-call overhead;
- re-run prefix: one full forward pass of the model over MAX_LENGTH tokens, what each new
  token would cost if the prefix were re-run instead of carrying the states.

ratio = (generation time / new tokens) / (reference time per step). For beam search the
step references are taken at batch x NUM_BEAMS rows, the rows beam search steps. Times are
the minimum over ROUNDS interleaved rounds; the ratios use the process's CPU time with
TensorFlow on THREADS thread(s), which a machine shared with other jobs disturbs far less than
wall time (tokens/s are wall-clock).

    python benchmarks/generation_speed.py
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from lstm_zoo.generation import BeamSampler, generate_tokens, step_model  # noqa: E402
from lstm_zoo.models import language_model  # noqa: E402

# Settings.
VOCAB = 10000
UNITS = 200
LAYERS = 2
CELLS = ["zoo_lstm", "lstm"]
BATCHES = [1, 32]
NUM_BEAMS = 5
NEW_TOKENS = 50  # prompts of one token; no end token, so every step runs
MAX_LENGTH = 1 + NEW_TOKENS
JIT = [False, True]
ROUNDS = 7  # interleaved timed rounds after one warm-up call; the minimum is kept
STEP_CALLS = 100  # step-function calls per timed block
THREADS = 1  # TensorFlow intra- and inter-op threads: CPU time then measures work, not waiting
OUT = os.path.join(os.path.dirname(__file__), "out", "generation_speed.json")


def timed(function):
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function()
    return time.perf_counter() - wall, time.process_time() - cpu


def generation_call(step, batch, sampler, jit):
    prompts = tf.constant(np.random.RandomState(0).randint(1, VOCAB, (batch, 1)), tf.int32)
    lengths = tf.ones([batch], tf.int32)
    seed = tf.constant([0, 1], tf.int64)

    @tf.function(jit_compile=jit)
    def run(prompts, lengths, seed):
        return generate_tokens(step, prompts, lengths, MAX_LENGTH, sampler, seed=seed)["tokens"]

    def call():
        tokens = run(prompts, lengths, seed).numpy()
        assert tokens.shape == (batch, MAX_LENGTH) and (tokens[:, -1] > 0).all()

    return call, NEW_TOKENS


def step_call(step, rows, jit):
    tokens = tf.fill([rows], 7)
    states = step.initial_states(rows)
    function = tf.function(step.next, jit_compile=jit)

    def block():
        for _ in range(STEP_CALLS):
            logits, _ = function(tokens, states)
        logits.numpy()

    return block, STEP_CALLS


def step_loop(step, rows, jit):
    tokens = tf.fill([rows], 7)

    @tf.function(jit_compile=jit)
    def loop():
        # The logits are carried out of the loop whole, so no compiler can skip any of them.
        def body(t, states, logits):
            logits, states = step.next(tokens, states)
            return t + 1, states, logits

        start = (0, step.initial_states(rows), tf.zeros([rows, VOCAB]))
        return tf.while_loop(lambda t, s, logits: t < NEW_TOKENS, body, start)[2][0, 0]

    return (lambda: loop().numpy()), NEW_TOKENS


def rerun_call(model, batch, jit):
    tokens = tf.constant(np.random.RandomState(0).randint(1, VOCAB, (batch, MAX_LENGTH)), tf.int32)
    function = tf.function(lambda x: model(x, training=False), jit_compile=jit)
    return (lambda: function(tokens).numpy()), 1


def measure(cases):
    """Seconds per unit of each case, wall and CPU: warm up all, then ROUNDS interleaved
    rounds; the minimum of each (the run least disturbed by other jobs on the machine)."""
    for function, _ in cases.values():
        function()
    wall = {name: [] for name in cases}
    cpu = {name: [] for name in cases}
    for _ in range(ROUNDS):
        for name, (function, units) in cases.items():
            seconds, cpu_seconds = timed(function)
            wall[name].append(seconds / units)
            cpu[name].append(cpu_seconds / units)
    return {name: min(v) for name, v in wall.items()}, {name: min(v) for name, v in cpu.items()}


def main():
    keras.utils.set_random_seed(0)
    tf.config.threading.set_intra_op_parallelism_threads(THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(THREADS)
    rows = []
    for cell in CELLS:
        model = language_model(VOCAB, cell=cell, units=UNITS, num_layers=LAYERS, init_scale=0.1)
        step = step_model(model)
        for jit in JIT:
            for batch in BATCHES:
                wide = batch * NUM_BEAMS
                t, c = measure(
                    {
                        "greedy": generation_call(step, batch, "greedy", jit),
                        "beam": generation_call(step, batch, BeamSampler(NUM_BEAMS), jit),
                        "call": step_call(step, batch, jit),
                        "call_wide": step_call(step, wide, jit),
                        "loop": step_loop(step, batch, jit),
                        "loop_wide": step_loop(step, wide, jit),
                        "rerun": rerun_call(model, batch, jit),
                    }
                )
                for sampler in ("greedy", "beam"):
                    suffix = "" if sampler == "greedy" else "_wide"
                    per_token, call, loop = c[sampler], c["call" + suffix], c["loop" + suffix]
                    row = {
                        "cell": cell,
                        "jit_compile": jit,
                        "batch": batch,
                        "sampler": "greedy" if sampler == "greedy" else f"beam {NUM_BEAMS}",
                        "tokens_per_s": batch / t[sampler],
                        "wall_ms_per_token": t[sampler] * 1e3,
                        "cpu_ms_per_token": per_token * 1e3,
                        "cpu_step_call_ms": call * 1e3,
                        "cpu_step_loop_ms": loop * 1e3,
                        "ratio_vs_step_call": per_token / call,
                        "ratio_vs_step_loop": per_token / loop,
                        "wall_ratio_vs_step_loop": t[sampler] / t["loop" + suffix],
                        "cpu_rerun_prefix_ms": c["rerun"] * 1e3,
                        "speedup_vs_rerun": c["rerun"] / per_token,
                    }
                    rows.append(row)
                    print_row(row)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "settings": {
            "vocab": VOCAB,
            "units": UNITS,
            "layers": LAYERS,
            "new_tokens": NEW_TOKENS,
            "num_beams": NUM_BEAMS,
            "rounds": ROUNDS,
            "step_calls": STEP_CALLS,
            "threads": THREADS,
        },
    }
    with open(OUT, "w") as handle:
        json.dump({"meta": meta, "rows": rows}, handle, indent=1)
    print(f"\nwrote {OUT}")


HEADER = (
    "| cell | jit | batch | sampler | tokens/s (wall) | CPU ms/token | step call CPU ms "
    "| step loop CPU ms | ratio vs call | ratio vs loop | (wall ratio vs loop) "
    "| re-run prefix CPU ms | speed-up vs re-run |"
)


def print_row(row):
    if not getattr(print_row, "started", False):
        print(HEADER)
        print("|" + "---|" * 13)
        print_row.started = True
    print(
        f"| {row['cell']} | {'yes' if row['jit_compile'] else 'no'} | {row['batch']} "
        f"| {row['sampler']} | {row['tokens_per_s']:,.0f} | {row['cpu_ms_per_token']:.3f} "
        f"| {row['cpu_step_call_ms']:.3f} | {row['cpu_step_loop_ms']:.3f} "
        f"| {row['ratio_vs_step_call']:.2f}x | {row['ratio_vs_step_loop']:.2f}x "
        f"| {row['wall_ratio_vs_step_loop']:.2f}x "
        f"| {row['cpu_rerun_prefix_ms']:.2f} | {row['speedup_vs_rerun']:.0f}x |",
        flush=True,
    )


if __name__ == "__main__":
    main()
