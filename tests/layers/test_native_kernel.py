"""The native CPU kernel (`lstm_zoo.kernels`): built here, equal to the XLA loop (outputs,
final states, gradients of inputs, weights and initial states) for every cell it covers and
every option, bf16 within a stated tolerance, and the XLA loop wherever it cannot run."""

import os
import platform
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import lstm_zoo
from lstm_zoo import kernels
from lstm_zoo.layers.scan import FusedScan
from tests.helpers import cell_options, random_inputs, zoo_cell_names, zoo_layer

NATIVE_CELLS = [
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
]
ON_LINUX_X86 = sys.platform == "linux" and platform.machine() == "x86_64"

pytestmark = pytest.mark.skipif(
    not ON_LINUX_X86, reason="the native kernel is built on x86-64 Linux only"
)


def test_the_kernel_is_built_and_runs_here():
    """On x86-64 Linux a failed build is an error, not a silent fallback to XLA."""
    status = kernels.status()
    assert status["path"] == "native", status
    assert status["library"] and os.path.exists(status["library"])


def _mask(batch, steps, seed):
    """Rows cycle through full, right padding, left padding, all masked, arbitrary."""
    rng = np.random.RandomState(seed)
    rows = []
    for row in range(batch):
        keep = np.ones(steps, bool)
        kind, cut = row % 5, max(1, steps // 2)
        if kind == 1:
            keep[cut:] = False
        elif kind == 2:
            keep[: steps - cut] = False
        elif kind == 3:
            keep[:] = False
        elif kind == 4:
            keep = rng.rand(steps) > 0.3
        rows.append(keep)
    return np.stack(rows)


def _layer(name, units, weights=None, **kwargs):
    layer = lstm_zoo.recurrent_layer(
        name, units, return_sequences=True, return_state=True, **cell_options(name, units), **kwargs
    )
    return layer


def _run(layer, x, mask=None, initial_state=None, training=True, native=True):
    """Outputs, then gradients of x, every weight and the initial states, on one path."""
    layer._scan = FusedScan(layer.cell, jit_compile=True, use_native=native)
    x = tf.constant(x)
    states = [tf.constant(s) for s in initial_state] if initial_state is not None else None
    with tf.GradientTape() as tape:
        tape.watch(x)
        if states:
            tape.watch(states)
        outputs = layer(
            x,
            mask=None if mask is None else tf.constant(mask),
            initial_state=states,
            training=training,
        )
        loss = sum(
            tf.reduce_sum(
                tf.cast(o, tf.float32)
                * tf.sin(tf.reshape(tf.range(tf.size(o), dtype=tf.float32), o.shape))
            )
            for o in outputs
        )
    sources = [x, *layer.trainable_weights] + (states or [])
    grads = tape.gradient(loss, sources)
    assert layer._scan.last_path == ("native" if native else "xla")
    return [tf.cast(v, tf.float32).numpy() for v in [*outputs, *grads]]


def _built(name, units, x, seed=1, **kwargs):
    layer = _layer(name, units, **kwargs)
    layer(x[:, :1])
    rng = np.random.RandomState(seed)
    layer.set_weights([rng.normal(scale=0.4, size=w.shape) for w in layer.get_weights()])
    return layer


def _assert_close(actual, expected, rtol=1e-5, atol=1e-6, err_msg=""):
    """Equal to `rtol` of each value, or to `rtol` of the tensor's largest value (a weight
    gradient is a float32 sum over batch x steps terms: which terms TensorFlow's MatMul adds
    first moves its small elements by a few 1e-6 on some CPUs, whatever the kernel does)."""
    scale = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
    atol = max(atol, rtol * scale)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=err_msg)


def _assert_paths_agree(layer, x, rtol=1e-5, atol=1e-6, **kwargs):
    native = _run(layer, x, native=True, **kwargs)
    xla = _run(layer, x, native=False, **kwargs)
    assert len(native) == len(xla)
    for index, (a, e) in enumerate(zip(native, xla)):
        _assert_close(a, e, rtol=rtol, atol=atol, err_msg=f"tensor {index}")


CASES = [  # (steps, batch, go_backwards, masked)
    (1, 1, False, False),
    (2, 3, True, True),
    (7, 5, False, True),
    (13, 64, True, True),
    (40, 3, False, False),
]


@pytest.mark.parametrize("name", NATIVE_CELLS)
@pytest.mark.parametrize(
    "steps,batch,go_backwards,masked",
    CASES,
    ids=[f"T{t}-B{b}-{'bw' if g else 'fw'}-{'mask' if m else 'nomask'}" for t, b, g, m in CASES],
)
def test_native_equals_xla_loop(name, steps, batch, go_backwards, masked):
    x = random_inputs((batch, steps, 4), seed=steps + batch)
    layer = _built(name, 6, x, go_backwards=go_backwards)
    mask = _mask(batch, steps, seed=steps) if masked else None
    _assert_paths_agree(layer, x, mask=mask)


@pytest.mark.parametrize("name", NATIVE_CELLS)
def test_native_equals_xla_with_initial_states_dropout_and_inference(name):
    x = random_inputs((5, 9, 4), seed=3)
    layer = _built(name, 6, x, recurrent_dropout=0.3, dropout=0.2, seed=7)
    states = [random_inputs((5, size), seed=10 + i) for i, size in enumerate(layer.cell.state_size)]
    if name == "clockwork":  # its clock: a step count (5 rows at different phases)
        states[1] = np.arange(5, dtype="float32")[:, None] + 3.0
    mask = _mask(5, 9, seed=2)
    # same dropout masks on both paths: the layer draws them from its seed generator
    generator = layer.cell.seed_generator
    for training in (True, False):
        start = generator.state.numpy()
        native = _run(layer, x, mask, states, training=training, native=True)
        generator.state.assign(start)
        xla = _run(layer, x, mask, states, training=training, native=False)
        for index, (a, e) in enumerate(zip(native, xla)):
            np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6, err_msg=f"tensor {index}")


@pytest.mark.parametrize(
    "options",
    [
        {"depth": 1},
        {"depth": 3},
        {"depth": 3, "use_bias": False},
        {"depth": 2, "go_backwards": True},
    ],
    ids=["depth1", "depth3", "depth3-no-bias", "depth2-backwards"],
)
def test_depth_gated_depths_and_options_equal_the_xla_loop(options):
    """Every layer of the stack, with and without biases, masks of every pattern."""
    x = random_inputs((7, 9, 4), seed=4)
    layer = _built("depth_gated", 6, x, **options)
    _assert_paths_agree(layer, x, mask=_mask(7, 9, seed=5))


@pytest.mark.parametrize(
    "options",
    [
        {"rounds": 1},
        {"rounds": 2},
        {"rounds": 4, "use_bias": False},
        {"rounds": 3, "rank": 2},
        {"rounds": 5, "go_backwards": True},
    ],
    ids=["rounds1", "rounds2", "rounds4-no-bias", "rounds3-rank2", "rounds5-backwards"],
)
def test_mogrifier_rounds_and_options_equal_the_xla_loop(options):
    """Odd and even round counts (the last round gates x or h), low rank (the factors'
    gradients), no bias, go_backwards; masks of every pattern; inputs wider than units."""
    x = random_inputs((7, 9, 10), seed=4)
    layer = _built("mogrifier", 6, x, **options)
    _assert_paths_agree(layer, x, mask=_mask(7, 9, seed=5))


def test_mogrifier_without_rounds_runs_the_lstm_loop():
    x = random_inputs((3, 5, 4), seed=2)
    layer = _built("mogrifier", 6, x, rounds=0)
    assert layer.cell.native_kernel == "lstm"
    _assert_paths_agree(layer, x, mask=_mask(3, 5, seed=1))


@pytest.mark.parametrize("gemm", ["default", "mkl"])
@pytest.mark.parametrize("name", ["zoo_lstm", "zoo_gru", "mut2", "mogrifier"])
def test_step_gemms_on_either_gemm_equal_the_xla_loop(name, gemm, monkeypatch):
    """The register tile (the default on AVX2 + FMA CPUs without AVX-512) and MKL's packed
    GEMM at 13 rows (not a multiple of the tile's 6), 260 units (gate columns not a multiple
    of its 16) and depths over its 256-deep blocks (forward h U: 260, backward dz U^T:
    1,040)."""
    if gemm == "mkl":
        monkeypatch.setenv("LSTM_ZOO_KERNEL_GEMM", "mkl")
    else:
        monkeypatch.delenv("LSTM_ZOO_KERNEL_GEMM", raising=False)
    x = random_inputs((13, 3, 20), seed=3)
    layer = _built(name, 260, x, seed=2)
    _assert_paths_agree(layer, x, mask=_mask(13, 3, seed=2))


@pytest.mark.parametrize("gemm", ["default", "mkl"])
def test_native_projection_on_either_gemm(gemm, monkeypatch):
    """x W + b by `ZooProjection` against float64: 203 rows (two threads' row blocks of 96
    and a rest), depth 300 (two blocks), 37 columns (a partial panel), with and without b."""
    from lstm_zoo.kernels.recurrence import native_projection

    if gemm == "mkl":
        monkeypatch.setenv("LSTM_ZOO_KERNEL_GEMM", "mkl")
    else:
        monkeypatch.delenv("LSTM_ZOO_KERNEL_GEMM", raising=False)
    rng = np.random.RandomState(0)
    x, w, b = rng.randn(203, 300), rng.randn(300, 37), rng.randn(37)
    f32 = [tf.constant(v.astype("float32")) for v in (x, w, b)]
    for bias, expected in ((f32[2], x @ w + b), (None, x @ w)):
        _assert_close(native_projection(f32[0], f32[1], bias).numpy(), expected)


def test_native_projection_at_every_row_count_of_a_block():
    """The tile GEMM cuts each block of up to 96 rows into row tiles of 1-6 rows (the cut of
    least time, `RowTiles`): every row count 1-100 (one block, then a block and a rest)
    against float64."""
    from lstm_zoo.kernels.recurrence import native_projection

    rng = np.random.RandomState(1)
    w = rng.randn(40, 24)
    w32 = tf.constant(w.astype("float32"))
    for rows in range(1, 101):
        x = rng.randn(rows, 40)
        _assert_close(native_projection(tf.constant(x.astype("float32")), w32).numpy(), x @ w)


def test_status_names_the_gemm_for_the_cpu(monkeypatch):
    from lstm_zoo.kernels.loader import gemm_description

    monkeypatch.delenv("LSTM_ZOO_KERNEL_GEMM", raising=False)
    assert gemm_description(["avx2", "fma"]).startswith("register tile")
    assert gemm_description(["avx2", "fma", "avx512f"]) == "MKL packed sgemm (AVX-512 CPU)"
    assert gemm_description(["sse4_2"]) == "MKL packed sgemm (no AVX2 + FMA)"
    monkeypatch.setenv("LSTM_ZOO_KERNEL_GEMM", "mkl")
    assert gemm_description(["avx2", "fma"]) == "MKL packed sgemm (LSTM_ZOO_KERNEL_GEMM=mkl)"
    assert kernels.status()["gemm"].startswith("MKL")


@pytest.mark.parametrize("name", NATIVE_CELLS)
def test_work_split_over_threads_does_not_change_results(name, monkeypatch):
    """72 units over 1, 2 and 3 unit ranges (uneven, not multiples of 16), and batch 61 over
    1, 2, 3 and 8 row ranges (uneven; the last of 8 ranges has 5 rows)."""
    x = random_inputs((61, 6, 8), seed=5)
    layer = _built(name, 72, x)
    mask = _mask(61, 6, seed=4)
    results = []
    for split, threads in [("units", "1"), ("units", "2"), ("units", "3")] + [
        ("rows", n) for n in ("1", "2", "3", "8")
    ]:
        monkeypatch.setenv("LSTM_ZOO_KERNEL_SPLIT", split)
        monkeypatch.setenv("LSTM_ZOO_KERNEL_THREADS", threads)
        results.append(_run(layer, x, mask=mask))
    for other in results[1:]:
        for a, e in zip(other, results[0]):
            _assert_close(a, e)
    monkeypatch.delenv("LSTM_ZOO_KERNEL_THREADS")
    monkeypatch.delenv("LSTM_ZOO_KERNEL_SPLIT")
    xla = _run(layer, x, mask=mask, native=False)
    for a, e in zip(results[1], xla):
        # to 1e-5 of each tensor's largest value: the Mogrifier's gradients reach 60 here
        # (5 rounds of gating over 72 units), where float32 rounding alone moves them by
        # 1e-6 of that on either path (both measured against the float64 XLA loop)
        _assert_close(a, e)


@pytest.mark.parametrize("name", NATIVE_CELLS)
def test_native_gradients_match_the_float64_xla_run(name):
    """The float32 kernel against the XLA loop in float64 (the kernel has no float64)."""
    x = random_inputs((3, 8, 4), seed=8)
    layer32 = _built(name, 5, x)
    layer64 = _layer(name, 5, dtype="float64")
    layer64(x[:, :1].astype("float64"))
    layer64.set_weights(layer32.get_weights())
    mask = _mask(3, 8, seed=1)
    native = _run(layer32, x, mask=mask, native=True)
    exact = _run(layer64, x.astype("float64"), mask=mask, native=False)
    for a, e in zip(native, exact):
        np.testing.assert_allclose(a, e, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("bf16_instructions", ["mkl", "emulate"])
@pytest.mark.parametrize("name", NATIVE_CELLS)
def test_mixed_bfloat16_stays_close_to_float32(name, bf16_instructions, monkeypatch):
    """bf16 GEMM operands, float32 accumulation and states: outputs and states within 6e-2
    absolute of the float32 layer over 30 steps with weights of scale 0.4 (measured 0.015 for
    zoo_lstm, 0.036 for peephole; the XLA loop under the same policy: 0.013 and 0.052), at
    most 1.5 times the XLA loop's error, and gradients within 5 % of the largest. With MKL's
    bf16 GEMM (AMX / AVX-512-BF16, forced on where the CPU has the instructions, also on AMD
    CPUs where the default is the emulation) and with its emulation (bf16-rounded operands in
    the fp32 GEMM) that runs on CPUs without bf16 instructions.

    The Mogrifier is far more sensitive to bf16 at this scale on either path: its 5 rounds
    multiply x and h by up to 2^3 and round both at every round. Measured (2026-12-07, Zen 3):
    outputs within 0.104 (XLA loop 0.088), gradients within 23 % of the largest (XLA loop
    39 %). Its bounds: outputs 0.15, gradients 1.5 times the XLA loop's error of the same
    tensor."""
    monkeypatch.setenv("LSTM_ZOO_KERNEL_BF16", bf16_instructions)
    x = random_inputs((8, 30, 16), seed=0)
    reference = _built(name, 32, x)
    expected = _run(reference, x, native=False)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = _layer(name, 32)
        layer(x[:, :1])
        layer.set_weights(reference.get_weights())
        native = _run(layer, x, native=True)
        xla = _run(layer, x, native=False)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    outputs = len(layer.cell.state_size) + 1
    native_error = max(np.abs(a - e).max() for a, e in zip(native[:outputs], expected))
    xla_error = max(np.abs(a - e).max() for a, e in zip(xla[:outputs], expected))
    sensitive = name == "mogrifier"
    assert native_error < (0.15 if sensitive else 6e-2)
    assert native_error <= 1.5 * xla_error
    for a, x_, e in zip(native[outputs:], xla[outputs:], expected[outputs:]):
        bound = 1.5 * np.abs(x_ - e).max() if sensitive else 0.05 * np.abs(e).max() + 1e-3
        assert np.abs(a - e).max() <= bound


def test_stateful_layer_carries_state_on_the_native_path():
    x = random_inputs((2, 5, 3), seed=1)
    layers = []
    for native in (True, False):
        layer = lstm_zoo.recurrent_layer("peephole", 4, stateful=True, return_sequences=True)
        layer(x)
        layers.append(layer)
        layer._scan = FusedScan(layer.cell, jit_compile=True, use_native=native)
    layers[1].set_weights(layers[0].get_weights())
    for layer in layers:
        layer.reset_states()
    for _ in range(3):
        a, e = (layer(x).numpy() for layer in layers)
        np.testing.assert_allclose(a, e, rtol=1e-5, atol=1e-6)
    assert layers[0]._scan.last_path == "native"


def test_fit_on_the_native_path_trains_like_the_xla_path():
    """A model trained 2 epochs with masks ends at the same weights on both paths."""
    rng = np.random.RandomState(0)
    ids = rng.randint(1, 30, size=(32, 12))
    ids[::3, 8:] = 0
    labels = rng.randint(0, 2, size=32)
    finals = []
    for native in (True, False):
        kernels.set_enabled(native)
        try:
            keras.utils.set_random_seed(0)
            model = keras.Sequential(
                [
                    keras.layers.Embedding(30, 8, mask_zero=True),
                    lstm_zoo.layers.Bidirectional(lstm_zoo.recurrent_layer("zoo_lstm", 8)),
                    keras.layers.Dense(1, "sigmoid"),
                ]
            )
            model.compile("adam", "binary_crossentropy")
            model.fit(ids, labels, epochs=2, batch_size=8, verbose=0, shuffle=False)
            finals.append(model.get_weights())
        finally:
            kernels.set_enabled(True)
    for a, e in zip(*finals):
        np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- where the XLA loop runs
def _path(layer, x, **call):
    layer(x, **call)
    return layer._scan.last_path


def test_jit_compile_function_uses_the_xla_loop():
    x = tf.constant(random_inputs((2, 4, 3)))
    layer = lstm_zoo.recurrent_layer("zoo_lstm", 4)
    layer(x)
    tf.function(lambda v: layer(v), jit_compile=True)(x)
    assert layer._scan.last_path == "xla"
    tf.function(lambda v: layer(v))(x)
    assert layer._scan.last_path == "native"


def test_disabled_block_and_set_enabled_use_the_xla_loop():
    x = tf.constant(random_inputs((2, 4, 3)))
    layer = lstm_zoo.recurrent_layer("coupled", 4)
    with kernels.disabled():
        assert _path(layer, x) == "xla"
    assert _path(layer, x) == "native"
    kernels.set_enabled(False)
    try:
        assert _path(layer, x) == "xla"
        assert kernels.status()["path"] == "xla"
        assert "set_enabled" in kernels.status()["reason"]
    finally:
        kernels.set_enabled(True)


@pytest.mark.parametrize(
    "name,kwargs,dtype",
    [
        ("zoo_gru", {"reset_after": False}, "float32"),
        ("zoo_lstm", {"activation": "relu"}, "float32"),
        ("zoo_lstm", {}, "float64"),
        ("mut1", {"activation": "relu"}, "float32"),
        ("layer_norm_lstm", {"recurrent_activation": "hard_sigmoid"}, "float32"),
        ("clockwork", {"activation": "relu"}, "float32"),
    ],
    ids=[
        "gru-reset-before",
        "relu",
        "float64",
        "mut1-relu",
        "layer-norm-hard-sigmoid",
        "clockwork-relu",
    ],
)
def test_configurations_without_a_kernel_use_the_xla_loop(name, kwargs, dtype):
    x = tf.constant(random_inputs((2, 4, 3), dtype=dtype))
    layer = lstm_zoo.recurrent_layer(name, 4, dtype=dtype, **kwargs)
    assert _path(layer, x) == "xla"
    assert layer._scan.native_reason(x.dtype)


def test_only_the_kernel_cells_run_natively():
    """Cells that subclass a kernel cell with other equations (Mogrifier, depth-gated, ...)
    must not inherit its kernel (each names its own); every kernel cell's loop is one
    `status()` lists."""
    x = tf.constant(random_inputs((2, 4, 3)))
    for name in zoo_cell_names():
        layer = zoo_layer(name, 4)
        expected = "native" if name in NATIVE_CELLS else "xla"
        assert _path(layer, x) == expected, name
        if expected == "native":
            assert layer.cell.native_kernel in kernels.status()["cells"], name


def test_environment_switch_and_status_in_a_fresh_process():
    script = textwrap.dedent(
        """
        import json
        from lstm_zoo import kernels
        print(json.dumps(kernels.status()))
        """
    )
    env = {**os.environ, "LSTM_ZOO_KERNEL": "xla", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    status = json.loads(done.stdout.strip().splitlines()[-1])
    assert status["path"] == "xla" and "LSTM_ZOO_KERNEL=xla" in status["reason"]


@pytest.mark.parametrize("shape", [(1, 1, 3, 8), (7, 5, 16, 36), (3, 40, 9, 4)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_native_projection_equals_matmul_with_its_gradients(shape, with_bias):
    """The kernel library's input projection (MKL, rows over the threads) against x W + b
    in TensorFlow, values and the gradients of x, W and b."""
    from lstm_zoo.kernels.recurrence import native_projection

    steps, batch, inputs, width = shape
    rng = np.random.RandomState(3)
    x = tf.constant(rng.randn(steps, batch, inputs).astype("float32"))
    w = tf.constant(rng.randn(inputs, width).astype("float32"))
    b = tf.constant(rng.randn(width).astype("float32")) if with_bias else None
    weights = [x, w] + ([b] if with_bias else [])
    probe = tf.constant(rng.randn(steps, batch, width).astype("float32"))
    results = []
    for native in (True, False):
        with tf.GradientTape() as tape:
            tape.watch(weights)
            if native:
                y = native_projection(x, w, b)
            else:
                y = tf.einsum("tbi,iw->tbw", x, w) + (b if with_bias else 0.0)
            loss = tf.reduce_sum(y * probe)
        results.append([y, *tape.gradient(loss, weights)])
    for a, e in zip(*results):
        _assert_close(a.numpy(), e.numpy())


@pytest.mark.parametrize("shape", [(1, 1, 3), (7, 5, 16), (3, 40, 36), (2, 300, 1024)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_native_row_norm_equals_the_cells_layer_norm_with_its_gradients(shape, with_bias):
    """The kernel library's row norm (the layer-norm LSTM's input norm on the native path)
    against `lstm_zoo.cells.layer_norm.layer_norm` (+ bias) in TensorFlow: values and the
    gradients of v, the gain, the norm's bias and the added bias; rows over 1 and 2 threads
    (600 x 1024 values split, the others not), widths not multiples of 16."""
    from lstm_zoo.cells.layer_norm import layer_norm
    from lstm_zoo.kernels.row_norm import native_row_norm

    rng = np.random.RandomState(5)
    width = shape[-1]
    v = tf.constant((rng.randn(*shape) * 3 + 1).astype("float32"))
    gamma = tf.constant(rng.randn(width).astype("float32"))
    beta = tf.constant(rng.randn(width).astype("float32"))
    bias = tf.constant(rng.randn(width).astype("float32")) if with_bias else None
    weights = [v, gamma, beta] + ([bias] if with_bias else [])
    probe = tf.constant(rng.randn(*shape).astype("float32"))
    results = []
    for native in (True, False):
        with tf.GradientTape() as tape:
            tape.watch(weights)
            if native:
                y = native_row_norm(v, gamma, beta, bias, 1e-3)
            else:
                y = layer_norm(v, gamma, beta, 1e-3) + (bias if with_bias else 0.0)
            loss = tf.reduce_sum(y * probe)
        results.append([y, *tape.gradient(loss, weights)])
    for index, (a, e) in enumerate(zip(*results)):
        _assert_close(a.numpy(), e.numpy(), err_msg=f"tensor {index}")


def test_fma_peak_op_returns_a_rate():
    """The benchmarks' roofline (`ZooFmaPeak`): a positive, finite GFLOP/s."""
    from lstm_zoo.kernels import loader

    rate = float(loader.load().zoo_fma_peak(seconds=0.05))
    assert np.isfinite(rate) and rate > 0.0
