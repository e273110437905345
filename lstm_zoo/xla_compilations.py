"""Count XLA compilations from the HLO modules TensorFlow dumps, one file per compilation.

With `XLA_FLAGS="--xla_dump_to=DIR --xla_dump_hlo_as_text"` XLA writes, for every module it
compiles, `DIR/module_NNNN.<name>.before_optimizations.txt` (beside other files: optimized
HLO, LLVM IR, object code). Counting only the `*.before_optimizations.txt` files before and
after a piece of work gives the number of compilations it caused; a call that reuses a
compiled executable (same function, same shapes) writes nothing.

XLA reads `XLA_FLAGS` once per process, at its first compilation: set it before then (before
TensorFlow is imported, to be safe), which means before `lstm_zoo` is imported too, since the
package imports TensorFlow. `dump_flags` gives the flags to set; `verify` checks that the dump
really works in this process.

Example, a script (the flags go in before anything imports TensorFlow):

    import os, tempfile
    folder = tempfile.mkdtemp()
    os.environ["XLA_FLAGS"] = f"--xla_dump_to={folder} --xla_dump_hlo_as_text"
    from lstm_zoo.xla_compilations import XlaCompilationCounter

    with XlaCompilationCounter(folder, owned=True) as counter:  # deletes the folder after
        counter.verify()  # 3 shapes of a tiny jit_compile function -> 3 compilations
        before = counter.count()
        model.fit(data, epochs=1)
        print(counter.count() - before, "XLA compilations in the epoch")

>>> dump_directory(dump_flags("/tmp/xla"))
PosixPath('/tmp/xla')
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

DUMP_SUFFIX = ".before_optimizations.txt"
_DUMP_TO = "--xla_dump_to="


def dump_flags(directory):
    """The XLA flags that dump every compiled module's HLO as text into `directory`.

    Args:
        directory: str or Path. Where XLA writes its dumps.
    """
    return f"{_DUMP_TO}{directory} --xla_dump_hlo_as_text"


def dump_directory(xla_flags=None):
    """The `--xla_dump_to` folder named by `xla_flags` (default `$XLA_FLAGS`), or None."""
    flags = os.environ.get("XLA_FLAGS", "") if xla_flags is None else xla_flags
    found = None
    for flag in shlex.split(flags):
        if flag.startswith(_DUMP_TO):
            found = flag[len(_DUMP_TO) :]  # XLA keeps the last occurrence
    return Path(found) if found else None


class XlaCompilationCounter:
    """Counts the XLA compilations dumped into one folder.

    Args:
        directory: str or Path. The folder given to `--xla_dump_to`.
        owned: bool. `cleanup()` (and leaving a `with` block) deletes the folder.
    """

    def __init__(self, directory, owned=False):
        self.directory = Path(directory)
        self.owned = bool(owned)

    @classmethod
    def from_environment(cls, owned=False):
        """A counter for the folder that `$XLA_FLAGS` names; ValueError when it names none."""
        directory = dump_directory()
        if directory is None:
            raise ValueError(
                "XLA_FLAGS has no --xla_dump_to=DIR; set XLA_FLAGS="
                f"{dump_flags('DIR')!r} before TensorFlow is imported"
            )
        return cls(directory, owned=owned)

    def modules(self):
        """Names of the compiled modules dumped so far, in compilation order."""
        if not self.directory.is_dir():
            return []
        names = [p.name for p in self.directory.iterdir() if p.name.endswith(DUMP_SUFFIX)]
        return sorted(n[: -len(DUMP_SUFFIX)] for n in names)

    def count(self):
        """Number of XLA compilations dumped so far."""
        return len(self.modules())

    def verify(self, shapes=(1, 2, 3)):
        """Check that each compilation shows up: a tiny `jit_compile` function called once
        at each of `shapes` (distinct sizes, then the first again, which reuses its
        executable) must add exactly `len(shapes)` dumps.

        Returns:
            The number of compilations counted (== len(shapes)).

        Raises:
            RuntimeError: another count, e.g. because XLA_FLAGS was set after XLA had already
                read it in this process.
        """
        import tensorflow as tf

        @tf.function(jit_compile=True)
        def tiny(x):
            return tf.reduce_sum(tf.sin(x) * 2.0)

        before = self.count()
        for size in [*shapes, shapes[0]]:
            tiny(tf.ones([size])).numpy()
        counted = self.count() - before
        if counted != len(shapes):
            raise RuntimeError(
                f"a jit_compile function called at {len(shapes)} shapes gave {counted} "
                f"dumps in {self.directory} (expected {len(shapes)}): XLA_FLAGS must hold "
                f"{dump_flags(self.directory)!r} before the process's first XLA compilation"
            )
        return counted

    def cleanup(self):
        """Delete the dump folder if this counter owns it."""
        if self.owned:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.cleanup()
