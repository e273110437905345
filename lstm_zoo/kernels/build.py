"""Build the native recurrence kernels (`recurrence.cc` and one `.cc` per other cell family,
`SOURCES`) into one TensorFlow op library.

The library is compiled with the system C++ compiler against `tf.sysconfig`'s flags and MKL
from the `mkl-devel` wheels (its packed fp32 GEMM and its bf16 x bf16 -> fp32 GEMM, which
uses AMX or AVX-512-BF16 where the CPU has them), with `-march=native`: it is built on the
machine that runs it, by `make` (`python -m lstm_zoo.kernels.build`) or on first use.

The build is keyed by a hash of the sources, the TensorFlow version, the compiler and the CPU's
feature flags, so a library built elsewhere (another CPU) is never loaded. It goes into
`lstm_zoo/kernels/_build/` when that is writable, else `$XDG_CACHE_HOME/lstm_zoo/kernels/`.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
# the op libraries' sources (one library) and the header they share
SOURCES = [
    HERE / "recurrence.cc",
    HERE / "mutated_units.cc",
    HERE / "layer_norm_lstm.cc",
    HERE / "clockwork.cc",
    HERE / "depth_gated.cc",
    HERE / "mogrifier.cc",
    HERE / "row_norm.cc",
    HERE / "fma_peak.cc",
]
HEADERS = [HERE / "kernel_common.h", HERE / "row_sums.h"]
LIBRARY_NAME = "_recurrence"


class BuildError(RuntimeError):
    """The kernel cannot be built here (no compiler, no MKL, not x86-64 Linux, a compile
    error); the message says which."""


def _distribution_file(distribution, suffix):
    """The absolute path of the file of an installed distribution whose path ends with
    `suffix`, or None."""
    try:
        files = importlib.metadata.files(distribution) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    for entry in files:
        if ("/" + str(entry).replace("\\", "/")).endswith(suffix):
            return Path(entry.locate()).resolve()
    return None


def mkl_paths():
    """(include directory, [libraries to link]) of the MKL wheels, or raise BuildError."""
    header = _distribution_file("mkl-include", "/include/mkl.h")
    libraries = [
        _distribution_file("mkl", f"/{name}.so.3") or _distribution_file("mkl", f"/{name}.so.2")
        for name in ("libmkl_intel_lp64", "libmkl_sequential", "libmkl_core")
    ]
    if header is None or None in libraries:
        raise BuildError(
            "MKL was not found: the native kernel needs the `mkl-devel` wheels "
            "(pip install mkl-devel; a dependency of lstm_zoo on x86-64 Linux)"
        )
    return header.parent, libraries


def cpu_flags():
    """The CPU's feature flags (from /proc/cpuinfo), sorted, or '' where unknown."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return ""


def compiler():
    """The C++ compiler to use ($CXX, else g++ or c++), or raise BuildError."""
    name = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if not name or not shutil.which(name):
        raise BuildError("no C++ compiler found (set $CXX or install g++)")
    return name


def _supported_platform():
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        raise BuildError(
            f"the native kernel is built on x86-64 Linux only (this is {sys.platform} "
            f"{platform.machine()})"
        )


# The compiler flags of the kernel (part of the build key: a change rebuilds it).
COMPILE_FLAGS = [
    "-O3",
    "-march=native",
    "-fopenmp-simd",
    # No FP-exception traps assumed: with GCC's default -ftrapping-math the comparisons in
    # the activations (clamps, the small-x case of tanh) are control flow that GCC will not
    # if-convert, so every gate loop stayed scalar. Same operations per value, vectorized.
    "-fno-trapping-math",
    "-mno-avx512fp16",  # Eigen 3.4.90 (in TF's headers) does not compile with it (gcc 12)
    "-fPIC",
    "-shared",
    "-Wall",
    "-Wno-sign-compare",
    "-Wno-unused-function",
    "-Wno-deprecated-declarations",
    "-Wno-interference-size",
]


def build_key(tf_version, cxx):
    text = "\n".join(
        [
            *(path.read_text() for path in SOURCES + HEADERS),
            " ".join(COMPILE_FLAGS),
            tf_version,
            cxx,
            cpu_flags(),
            sys.version,
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _build_directories():
    here = Path(__file__).with_name("_build")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lstm_zoo" / "kernels"
    return [here, cache]


def library_path(create=True, verbose=False):
    """The path of the built library for this machine, building it if needed.

    Raises BuildError where it cannot be built.
    """
    _supported_platform()
    import tensorflow as tf

    cxx = compiler()
    key = build_key(tf.__version__, cxx)
    filename = f"{LIBRARY_NAME}_{key}.so"
    for directory in _build_directories():
        if (directory / filename).exists():
            return directory / filename
    if not create:
        raise BuildError("the native kernel is not built yet")
    errors = []
    for directory in _build_directories():
        try:
            directory.mkdir(parents=True, exist_ok=True)
            return _compile(directory / filename, cxx, tf, verbose)
        except OSError as error:  # not writable: try the next place
            errors.append(f"{directory}: {error}")
    raise BuildError("no writable place for the native kernel: " + "; ".join(errors))


def _compile(target, cxx, tf, verbose):
    include, libraries = mkl_paths()
    library_dir = libraries[0].parent
    command = [
        cxx,
        *COMPILE_FLAGS,
        *tf.sysconfig.get_compile_flags(),
        f"-I{include}",
        *[str(path) for path in SOURCES],
        "-o",
    ]
    link = [
        *tf.sysconfig.get_link_flags(),
        *[str(lib) for lib in libraries],
        f"-Wl,-rpath,{library_dir}",
    ]
    # Compile into a temporary file in the same directory, then rename: a concurrent build
    # (another test process) or an interrupted one never leaves a half-written library.
    handle, partial = tempfile.mkstemp(prefix=target.name, suffix=".partial", dir=target.parent)
    os.close(handle)
    try:
        result = subprocess.run(
            [*command, partial, *link], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise BuildError(
                f"compiling {', '.join(path.name for path in SOURCES)} failed "
                f"({' '.join(command[:1])} exit "
                f"{result.returncode}):\n{result.stderr[-4000:]}"
            )
        if verbose and result.stderr:
            print(result.stderr, file=sys.stderr)
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return target


def main():
    """`python -m lstm_zoo.kernels.build`: build (if needed) and print where, or why not.

    Never fails the caller's install: where the kernel cannot be built, the XLA loop runs.
    """
    try:
        path = library_path(verbose=True)
    except BuildError as error:
        print(f"lstm_zoo native kernel not built: {error}", file=sys.stderr)
        return 0
    print(f"lstm_zoo native kernel: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
