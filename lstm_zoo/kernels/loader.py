"""Load the native kernel library once, and say which path the recurrent layers run and why.

The native path is used when all of these hold (else the XLA loop runs, with the same
results to 1e-5):

- the library is built and loaded for this machine (`lstm_zoo.kernels.build`);
- it is not switched off: `LSTM_ZOO_KERNEL=xla` in the environment, `set_enabled(False)`, or
  inside `with disabled():` (the SavedModel and LiteRT exporters use that, so an exported
  model needs no lstm_zoo op);
- no GPU or TPU is visible (there the XLA loop runs on the accelerator);
- the call is not traced inside a `jit_compile=True` function (XLA cannot run a custom op),
  nor while a SavedModel is being written;
- the cell has a native kernel (`cell.native_kernel`: lstm, peephole, coupled, gru with
  reset_after=True, mut1, mut2, mut3, layer_norm_lstm, clockwork, depth_gated and mogrifier,
  with the standard sigmoid/tanh activations), one direction, and a float32 or bfloat16
  compute dtype.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading

from lstm_zoo.kernels import build

_ENV = "LSTM_ZOO_KERNEL"
# the cells' `native_kernel` names the library has loops for
KERNEL_CELLS = (
    "lstm",
    "peephole",
    "coupled",
    "gru",
    "mut1",
    "mut2",
    "mut3",
    "layer_norm_lstm",
    "clockwork",
    "depth_gated",
    "mogrifier",
)
_state = {"library": None, "error": None, "tried": False, "enabled": True}
_lock = threading.Lock()
_local = threading.local()


def load():
    """The loaded op library (a module of TF ops), or None; builds it on first use."""
    with _lock:
        if not _state["tried"]:
            _state["tried"] = True
            try:
                import tensorflow as tf

                path = build.library_path()
                _state["library"] = tf.load_op_library(str(path))
                _state["path"] = str(path)
            except build.BuildError as error:
                _state["error"] = str(error)
            except Exception as error:  # a library that does not load: say why, run XLA
                _state["error"] = f"the native kernel did not load: {error}"
    return _state["library"]


def set_enabled(enabled):
    """Switch the native path on or off for this process (default on)."""
    _state["enabled"] = bool(enabled)


@contextlib.contextmanager
def disabled():
    """Within this block (this thread), layers traced use the XLA loop."""
    previous = getattr(_local, "disabled", False)
    _local.disabled = True
    try:
        yield
    finally:
        _local.disabled = previous


def with_xla_loops(function):
    """Decorator: `function` runs (and traces) inside `disabled()` (the exporters: a
    SavedModel or .tflite file must not need lstm_zoo's op library to load)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with disabled():
            return function(*args, **kwargs)

    return wrapper


def _accelerator_visible():
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("TPU"))


def in_xla_or_saving():
    """Why a graph traced now must hold neither the native op nor the XLA loop's row chunks
    (`lstm_zoo.layers.scan`), or None: a SavedModel is being written, or the trace is inside
    a jit_compile=True function."""
    import tensorflow as tf
    from tensorflow.python.ops import control_flow_util
    from tensorflow.python.saved_model import save_context

    if save_context.in_save_context():
        return "a SavedModel is being written (an exported model must not need lstm_zoo's op)"
    if control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph()):
        return "traced inside a jit_compile=True function (XLA cannot run a custom op)"
    return None


def process_reason():
    """Why the native path cannot run in this process, or None when it can."""
    setting = os.environ.get(_ENV, "auto").strip().lower()
    if setting not in ("auto", "native", "xla"):
        return f"{_ENV}={setting!r} is not one of auto, native, xla; the XLA loop runs"
    if setting == "xla":
        return f"{_ENV}=xla"
    if not _state["enabled"]:
        return "switched off by lstm_zoo.kernels.set_enabled(False)"
    if _accelerator_visible():
        return "a GPU or TPU is visible: the XLA loop runs there"
    if load() is None:
        return _state["error"]
    return None


def call_reason():
    """Why this call (being traced or run now) cannot use the native path, or None."""
    if getattr(_local, "disabled", False):
        return "inside lstm_zoo.kernels.disabled()"
    return process_reason() or in_xla_or_saving()


def _cpu_is_intel():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            return any(line.startswith("vendor_id") and "GenuineIntel" in line for line in cpuinfo)
    except OSError:
        return False


@functools.lru_cache(maxsize=1)
def _cpu_flag_list():
    return tuple(build.cpu_flags().split())


def uses_tile_gemm():
    """Whether the kernel's float32 GEMMs run on its register tile in this process."""
    return gemm_description(_cpu_flag_list()).startswith("register tile")


def gemm_description(flags):
    """What runs the kernel's float32 step GEMMs on a CPU with these /proc/cpuinfo flags, as
    kernel_common.h decides it (the library is built with -march=native)."""
    tile = "avx2" in flags and "fma" in flags and "avx512f" not in flags
    if tile and os.environ.get("LSTM_ZOO_KERNEL_GEMM") != "mkl":  # as UseTileGemm reads it
        return "register tile (AVX2 + FMA, 6 x 16)"
    if tile:
        why = "LSTM_ZOO_KERNEL_GEMM=mkl"
    else:
        why = "AVX-512 CPU" if "avx512f" in flags else "no AVX2 + FMA"
    return f"MKL packed sgemm ({why})"


def status():
    """{'path': 'native' or 'xla', 'reason': why, 'library': path or None, 'gemm': what runs
    the steps' float32 GEMMs, 'bf16': how mixed_bfloat16 GEMMs run, 'cells': the cells'
    `native_kernel` names it has loops for} for this process (a cell, dtype or
    jit_compile=True call may still run the XLA loop: see the module)."""
    reason = process_reason()
    flags = build.cpu_flags().split()
    mode = os.environ.get("LSTM_ZOO_KERNEL_BF16", "auto").strip().lower()
    instructions = "avx512_bf16" in flags or "amx_bf16" in flags
    # MKL takes its bf16 instructions on Intel CPUs only (kernel_common.h, CpuHasBf16)
    native_bf16 = instructions and mode != "emulate" and (mode == "mkl" or _cpu_is_intel())
    return {
        "path": "xla" if reason else "native",
        "reason": reason or "the native kernel is built and loaded",
        "library": _state.get("path"),
        "cells": list(KERNEL_CELLS),
        "gemm": gemm_description(flags),
        "bf16": (
            "MKL bf16 GEMM (AMX / AVX-512-BF16)"
            if native_bf16
            else "emulated: bf16-rounded operands in the fp32 GEMM ("
            + ("MKL has no bf16 path for this CPU" if instructions else "no bf16 instructions")
            + ")"
        ),
    }
