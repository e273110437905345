"""The capacity-bucketed fast loop: same results as one program per exact shape, and a
bounded number of XLA compilations over a pipeline of many lengths."""

import functools
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from lstm_zoo.layers import LSTM, capacity
from lstm_zoo.layers.capacity import batch_capacity, chunk_rows, time_capacity
from lstm_zoo.layers.scan import FusedScan
from tests.helpers import random_inputs, zoo_cell_names, zoo_layer

LAYERS = {name: functools.partial(zoo_layer, name) for name in zoo_cell_names()}


def test_capacities_are_few_and_cover_every_size():
    lengths = np.arange(1, 513)
    capacities = time_capacity(lengths).numpy()  # elementwise over a vector of lengths
    assert np.all(capacities >= lengths)
    assert sorted(set(capacities)) == [1, 8, 16, 32, 64, 128, 256, 512]
    batches = (1, 2, 3, 5, 9, 13, 20, 32, 33, 49, 64, 65)
    assert [int(batch_capacity(b)) for b in batches] == [
        1,
        2,
        4,
        6,
        12,
        16,
        24,
        32,
        48,
        64,
        64,
        128,
    ]
    small, large = np.arange(1, 65), np.arange(65, 2000)
    assert np.all(2 * batch_capacity(small).numpy() <= 3 * small)  # <= 1/3 padding
    assert np.all(batch_capacity(large).numpy() < 2 * large)


def test_batches_above_one_chunk_are_whole_chunks_of_one_size():
    assert capacity.chunk_limit() == capacity.CPU_CHUNK_ROWS == 256  # no GPU in these tests
    batches = (128, 129, 256, 257, 511, 512, 513, 1000)
    assert [int(batch_capacity(b)) for b in batches] == [128, 256, 256, 512, 512, 512, 768, 1024]
    assert [int(chunk_rows(b)) for b in batches] == [128, 256, 256, 256, 256, 256, 256, 256]
    # every batch of 1..4096 rows: a whole number of chunks, and above 256 one chunk size
    every = tf.range(1, 4097)  # the functions work elementwise on a vector of batch sizes
    capacities, chunks = batch_capacity(every).numpy(), chunk_rows(every).numpy()
    assert set(chunks[256:]) == {256}
    assert np.all(capacities % chunks == 0) and np.all(capacities >= every.numpy())
    # where a GPU or TPU is visible: powers of two up to 1,024 rows, then chunks of 1,024
    limit = capacity.ACCELERATOR_CHUNK_ROWS
    batches = (256, 257, 512, 513, 1024, 1025, 3000)
    assert [int(batch_capacity(b, limit)) for b in batches] == [
        256,
        512,
        512,
        1024,
        1024,
        2048,
        3072,
    ]
    assert [int(chunk_rows(b, limit)) for b in batches] == [256, 512, 512, 1024, 1024, 1024, 1024]


def _mask(batch, steps):
    """Rows cycle through: full, right padding, left padding, all masked, arbitrary."""
    rng = np.random.RandomState(steps)
    rows = []
    for row in range(batch):
        kind = row % 5
        keep = np.ones(steps, bool)
        cut = max(1, steps // 2)
        if kind == 1:
            keep[cut:] = False
        elif kind == 2:
            keep[: steps - cut] = False
        elif kind == 3:
            keep[:] = False
        elif kind == 4:
            keep = rng.rand(steps) > 0.3
        rows.append(keep)
    if batch == 1 and steps > 1:
        rows[0][steps // 2 :] = False  # right padding for a batch of one
    return np.stack(rows)


def _run(layer, x, mask):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = layer(x, mask=tf.constant(mask), training=True)
        loss = sum(
            tf.reduce_sum(o * tf.sin(tf.reshape(tf.range(tf.size(o), dtype=o.dtype), o.shape)))
            for o in outputs
        )
    grads = tape.gradient(loss, [x, *layer.trainable_weights])
    return [o.numpy() for o in outputs] + [g.numpy() for g in grads]


def _bucketed_and_exact(layer_class, x, **kwargs):
    bucketed = layer_class(6, return_sequences=True, return_state=True, **kwargs)
    bucketed(x[:, :1])
    rng = np.random.RandomState(1)
    bucketed.set_weights([rng.normal(scale=0.4, size=w.shape) for w in bucketed.get_weights()])
    exact = layer_class(6, return_sequences=True, return_state=True, **kwargs)
    exact(x[:, :1])
    exact.set_weights(bucketed.get_weights())
    # both on the XLA loop (the native CPU kernel has no capacities: tests of its own)
    bucketed._scan = FusedScan(bucketed.cell, jit_compile=True, use_native=False)
    exact._scan = FusedScan(exact.cell, jit_compile=True, bucketed=False, use_native=False)
    return bucketed, exact


CASES = [  # (steps, batch, go_backwards): lengths 1, 2, 7, 64, 65, 300 and batches 1, 3, 64
    # (and 600: three chunks of 256 rows, the last with 88 real rows)
    (1, 1, False),
    (7, 600, True),
    (2, 3, True),
    (7, 1, True),
    (7, 64, False),
    (64, 3, True),
    (65, 1, False),
    (65, 64, True),
    (300, 3, False),
    (300, 3, True),
]


@pytest.mark.parametrize(
    "steps,batch,go_backwards", CASES, ids=[f"T{t}-B{b}-{'bw' if g else 'fw'}" for t, b, g in CASES]
)
def test_bucketed_loop_equals_the_exact_shape_loop(steps, batch, go_backwards):
    x = random_inputs((batch, steps, 4), seed=steps + batch)
    bucketed, exact = _bucketed_and_exact(LSTM, x, go_backwards=go_backwards)
    mask = _mask(batch, steps)
    for a, e in zip(_run(bucketed, x, mask), _run(exact, x, mask)):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", LAYERS)
def test_every_cell_bucketed_equals_exact(name):
    x = random_inputs((5, 11, 4), seed=2)
    bucketed, exact = _bucketed_and_exact(LAYERS[name], x, go_backwards=True)
    mask = _mask(5, 11)
    for a, e in zip(_run(bucketed, x, mask), _run(exact, x, mask)):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["peephole", "mut1"])  # hand-written and autodiff backward
def test_a_batch_of_several_chunks_equals_the_exact_shape_loop(name):
    x = random_inputs((530, 5, 4), seed=3)  # 3 chunks of 256 rows
    bucketed, exact = _bucketed_and_exact(LAYERS[name], x, go_backwards=True)
    mask = _mask(530, 5)
    for a, e in zip(_run(bucketed, x, mask), _run(exact, x, mask)):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-6)


def _run_with_unknown_batch(layer, x, mask):
    """`_run` traced with the batch and time sizes unknown (a `padded_batch` pipeline's trace):
    the number of chunks is decided while the graph runs."""
    relaxed = tf.function(
        lambda x, mask: _run_graph(layer, x, mask),
        input_signature=[
            tf.TensorSpec([None, None, x.shape[-1]]),
            tf.TensorSpec([None, None], tf.bool),
        ],
    )
    return [t.numpy() for t in relaxed(tf.constant(x), tf.constant(mask))]


def _run_graph(layer, x, mask):
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = layer(x, mask=mask, training=True)
        loss = sum(
            tf.reduce_sum(
                o * tf.reshape(tf.sin(tf.cast(tf.range(tf.size(o)), o.dtype)), tf.shape(o))
            )
            for o in outputs
        )
    return [*outputs, *tape.gradient(loss, [x, *layer.trainable_weights])]


@pytest.mark.parametrize("name", ["peephole", "mut1"])  # hand-written and autodiff backward
def test_several_chunks_behind_an_unknown_batch_size_equal_the_exact_shape_loop(name):
    x = random_inputs((530, 5, 4), seed=5)  # 3 chunks of 256 rows, known only at run time
    bucketed, exact = _bucketed_and_exact(LAYERS[name], x, go_backwards=True)
    mask = _mask(530, 5)
    expected = _run_with_unknown_batch(exact, x, mask)
    for a, e in zip(_run_with_unknown_batch(bucketed, x, mask), expected):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-6)
    # the same graph with a batch of one chunk takes the other branch
    small = _run_with_unknown_batch(bucketed, x[:7], mask[:7])
    for a, e in zip(small[:3], _run_with_unknown_batch(exact, x[:7], mask[:7])[:3]):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-6)


def _control_flow_ops(layer, batch):
    """The op types of a traced training call (forward and gradient) on `batch` rows, outside
    the compiled loops' own functions; batch None traces an unknown batch size."""
    layer._scan = FusedScan(layer.cell, jit_compile=True, use_native=False)
    signature = [tf.TensorSpec([batch, 5, 4]), tf.TensorSpec([batch, 5], tf.bool)]
    graph = (
        tf.function(lambda x, mask: _run_graph(layer, x, mask))
        .get_concrete_function(*signature)
        .graph
    )
    types = {op.type for op in graph.get_operations()}
    return types & {"If", "StatelessIf", "While", "StatelessWhile"}


def test_a_known_batch_size_traces_only_the_path_it_runs():
    """Traced with the batch size known (a fixed-shape fit's first trace), the graph holds no
    branch on the number of chunks: one chunk calls the loop directly, several map over the
    chunks; only an unknown batch size needs both behind a tf.cond. (The chunked branch made
    a Keras train step of a tagger with two autodiff-backward layers trace 6 s longer.)"""
    layer = LAYERS["mut1"](6, return_sequences=True, return_state=True, go_backwards=True)
    layer(tf.zeros([1, 1, 4]))
    assert _control_flow_ops(layer, 16) == set()
    assert _control_flow_ops(layer, 530) == {"StatelessWhile"}
    assert _control_flow_ops(layer, None) == {"StatelessIf"}  # the map is in a branch


def _scan_two_directions(scan, xz, kernel, states, mask):
    with tf.GradientTape() as tape:
        tape.watch([xz, kernel, *states])
        h_seq, finals = scan(xz, states, kernel, None, [], mask=mask, training=True)
        weights = tf.sin(tf.reshape(tf.range(tf.size(h_seq), dtype=h_seq.dtype), h_seq.shape))
        loss = tf.reduce_sum(h_seq * weights) + sum(tf.reduce_sum(f * f) for f in finals)
    grads = tape.gradient(loss, [xz, kernel, *states])
    return [t.numpy() for t in (h_seq, *finals, *grads)]


def test_two_directions_in_several_chunks_equal_the_exact_shape_loop():
    """A fused bidirectional loop (rows direction-major) over 300 batch rows: 2 chunks."""
    layer = LSTM(6)
    layer(tf.zeros([1, 1, 4]))
    steps, batch, units = 9, 300, 6
    rng = np.random.RandomState(4)
    xz = tf.constant(rng.normal(size=(steps, 2 * batch, 4 * units)).astype("float32"))
    kernel = tf.constant(rng.normal(scale=0.4, size=(2, units, 4 * units)).astype("float32"))
    states = [tf.constant(rng.normal(size=(2 * batch, units)).astype("float32")) for _ in "hc"]
    mask = tf.constant(np.concatenate([_mask(batch, steps), _mask(batch, steps)[::-1]]).T)
    results = [
        _scan_two_directions(
            FusedScan(layer.cell, directions=2, bucketed=b, use_native=False),
            xz,
            kernel,
            states,
            mask,
        )
        for b in (True, False)
    ]
    for a, e in zip(*results):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-6)


# A subprocess that dumps XLA's programs (XLA_FLAGS set before TensorFlow is imported), runs a
# body with `counter` started, and prints the names of the modules compiled since.
_COUNT_HEAD = """
import os, sys, tempfile
folder = tempfile.mkdtemp()
os.environ["XLA_FLAGS"] = f"--xla_dump_to={folder} --xla_dump_hlo_as_text"
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import json
import keras
import numpy as np
import tensorflow as tf
from lstm_zoo.layers import Bidirectional, recurrent_layer
from lstm_zoo.xla_compilations import XlaCompilationCounter

with XlaCompilationCounter(folder, owned=True) as counter:
    counter.verify()
    start = counter.count()
"""


def _compiled_loops(body, name):
    """({loop kind: its compiled XLA modules}, every module) of `body` run on the XLA loop for
    the cell `name` (sys.argv[1] in the body)."""
    body = textwrap.indent(textwrap.dedent(body), "    ")
    script = f"{_COUNT_HEAD}{body}\n    print(json.dumps(counter.modules()[start:]))\n"
    env = {**os.environ, "PYTHONPATH": os.getcwd(), "LSTM_ZOO_KERNEL": "xla"}
    result = subprocess.run(
        [sys.executable, "-c", script, name], capture_output=True, text=True, timeout=600, env=env
    )
    assert result.returncode == 0, result.stderr[-3000:]
    names = json.loads(result.stdout.strip().splitlines()[-1])
    kinds = ("forward", "backward", "inference")
    return {kind: [n for n in names if f"{kind}_loop" in n] for kind in kinds}, names


_TEN_ROW_COUNTS = """
    layer = Bidirectional(recurrent_layer(sys.argv[1], 4))  # a character encoder's shape
    rng = np.random.RandomState(0)
    for rows in (257, 300, 431, 512, 513, 640, 777, 900, 1000, 1234):  # words per batch
        x = tf.constant(rng.normal(size=(rows, 3 + rows % 5, 3)).astype("float32"))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
        tape.gradient(y, [x, *layer.trainable_weights])
        layer(x, training=False)
"""


@pytest.mark.parametrize("name", ["zoo_lstm", "mut1"])  # hand-written and autodiff backward
def test_ten_batch_sizes_above_one_chunk_compile_one_program_per_loop(name):
    """10 row counts from 257 to 1,234 (lengths 3..7: one time capacity) on the XLA loop: each
    loop compiles once (chunks of 256 rows), for both directions (two layers of one cell
    configuration share their loops: before, once per direction); capacities that grew with
    the rows (powers of two) compiled 3, and one per row count before capacities compiled 10."""
    loops, names = _compiled_loops(_TEN_ROW_COUNTS, name)
    for kind, modules in loops.items():
        assert len(modules) == 1, (kind, modules)
    assert len(names) == 3, names


_FORTY_LENGTHS = """
    rng = np.random.RandomState(0)
    lengths = [3 + 2 * i for i in range(40)]          # 40 distinct lengths, 3..81
    rows = [rng.randint(1, 50, size=n) for n in lengths for _ in range(2)]
    labels = rng.randint(0, 2, size=len(rows))
    data = tf.data.Dataset.from_generator(
        lambda: zip(rows, labels),
        output_signature=(tf.TensorSpec([None], tf.int32), tf.TensorSpec([], tf.int32)),
    ).padded_batch(3)  # batches of 3 and one of 2; each batch its own length
    model = keras.Sequential([
        keras.layers.Embedding(50, 8, mask_zero=True),
        recurrent_layer(sys.argv[1], 8),
        keras.layers.Dense(1, "sigmoid"),
    ])
    model.compile("adam", "binary_crossentropy")
    model.fit(data, epochs=1, verbose=0)
    model.evaluate(data, verbose=0)
"""


@pytest.mark.parametrize("name", ["peephole", "mut1"])  # hand-written and autodiff backward
def test_a_pipeline_of_40_lengths_compiles_a_bounded_number_of_loops(name):
    """Time capacities met by lengths 3..81: 8, 16, 32, 64, 128; batch capacities: 4 (batches
    of 3) and 2 (the last). Each loop (training forward, backward, inference forward) compiles
    at most once per (time, batch) capacity pair met: <= 5 * 2 each; one compilation per
    length (today's loops before capacities) gave 40 or more each."""
    loops, names = _compiled_loops(_FORTY_LENGTHS, name)
    for kind, modules in loops.items():
        assert 0 < len(modules) <= 10, (kind, modules)
    assert len(names) <= 30, names
