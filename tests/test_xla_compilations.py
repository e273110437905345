import os
import subprocess
import sys
import textwrap

import pytest

from lstm_zoo import xla_compilations
from lstm_zoo.xla_compilations import XlaCompilationCounter, dump_directory, dump_flags


def test_dump_flags_name_the_folder_and_the_last_dump_to_wins(tmp_path):
    assert dump_directory(dump_flags(tmp_path)) == tmp_path
    assert dump_directory(f"--xla_dump_to=/a {dump_flags(tmp_path)}") == tmp_path
    assert dump_directory("--xla_cpu_enable_fast_math=false") is None
    assert dump_directory("") is None


def test_count_takes_only_the_before_optimizations_dumps(tmp_path):
    counter = XlaCompilationCounter(tmp_path)
    assert counter.count() == 0
    for name in ("module_0001.b", "module_0000.a"):
        (tmp_path / f"{name}.before_optimizations.txt").write_text("HloModule")
        (tmp_path / f"{name}.cpu_after_optimizations.txt").write_text("HloModule")
        (tmp_path / f"{name}.ir-no-opt.ll").write_text("")
    assert counter.count() == 2
    assert counter.modules() == ["module_0000.a", "module_0001.b"]
    assert XlaCompilationCounter(tmp_path / "absent").count() == 0


def test_from_environment_reads_xla_flags(tmp_path, monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", dump_flags(tmp_path))
    assert XlaCompilationCounter.from_environment().directory == tmp_path
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_hlo_as_text")
    with pytest.raises(ValueError, match="no --xla_dump_to"):
        XlaCompilationCounter.from_environment()


def test_cleanup_deletes_only_an_owned_folder(tmp_path):
    kept, owned = tmp_path / "kept", tmp_path / "owned"
    kept.mkdir()
    owned.mkdir()
    XlaCompilationCounter(kept).cleanup()
    with XlaCompilationCounter(owned, owned=True):
        pass
    assert kept.is_dir() and not owned.exists()


def test_verify_fails_when_nothing_is_dumped_into_the_folder(tmp_path):
    # This process did not set XLA_FLAGS to dump into tmp_path before its first compilation.
    with pytest.raises(RuntimeError, match="expected 3"):
        XlaCompilationCounter(tmp_path).verify()


def test_one_compilation_per_shape_in_a_process_that_dumps(tmp_path):
    script = textwrap.dedent(
        """
        import tensorflow as tf
        from lstm_zoo.xla_compilations import XlaCompilationCounter

        counter = XlaCompilationCounter.from_environment()
        assert counter.verify() == 3

        @tf.function(jit_compile=True)
        def double(x):
            return 2.0 * x

        before = counter.count()
        for size in (4, 5, 4, 5, 6):
            double(tf.ones([size]))
        print("compilations", counter.count() - before)
        """
    )
    env = {**os.environ, "XLA_FLAGS": dump_flags(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-2:] == ["compilations", "3"]
    assert len(list(tmp_path.glob(f"*{xla_compilations.DUMP_SUFFIX}"))) == 6
