"""tf.distribute: every task trains under MirroredStrategy (two logical CPUs) and
MultiWorkerMirroredStrategy (two worker processes on loopback) to the weights of one replica
on the same global batches; the helpers of lstm_zoo.distribute."""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from lstm_zoo import distribute
from lstm_zoo.runs import load_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = "the cat sat on the mat .\nthe dog sat on the log .\n" * 20
# Equal lengths: each replica's half of a batch holds as many loss terms as the other's.
SST = "\n".join(["1 a fine and moving film", "0 a dull and tired film"] * 8) + "\n"
CONLLU = (
    "1\tthe\tthe\tDET\t_\t_\t2\tdet\t_\t_\n2\tdog\tdog\tNOUN\t_\t_\t3\tnsubj\t_\t_\n"
    "3\truns\trun\tVERB\t_\t_\t0\troot\t_\t_\n\n"
    "1\ta\ta\tDET\t_\t_\t2\tdet\t_\t_\n2\tcat\tcat\tNOUN\t_\t_\t3\tnsubj\t_\t_\n"
    "3\tsat\tsit\tVERB\t_\t_\t0\troot\t_\t_\n\n"
) * 4
TASKS = {
    "lm": ["--task", "lm", "--train", "corpus.txt", "--cell", "zoo_lstm", "--layers", "1"]
    + ["--batch-size", "4", "--num-steps", "4", "--epochs", "1"],
    "sentiment": ["--task", "sentiment", "--train", "sst.txt", "--cell", "zoo_lstm"]
    + ["--bidirectional", "--batch-size", "4", "--epochs", "1"],
    "tagger": ["--task", "tagger", "--train", "tiny.conllu", "--cell", "zoo_gru", "--crf"]
    + ["--batch-size", "4", "--epochs", "1"],
}
COMMON = ["train", "--units", "8", "--backup-every", "1000"]

# One process (logical devices are set before TensorFlow starts): each task with one
# replica, then under MirroredStrategy over two logical CPUs; prints the largest difference.
MIRRORED = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from lstm_zoo import cli, tasks
    from lstm_zoo.runs import load_run

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    import lstm_zoo.distribute as distribute
    make = distribute.make_strategy
    distribute.make_strategy = lambda name: strategy if name == "mirrored" else make(name)
    results = {}
    for name, argv in json.loads(sys.argv[1]).items():
        for label, choice in (("one", "default"), ("two", "mirrored")):
            out = f"{name}-{label}"
            assert cli.main(argv + ["--strategy", choice, "--output", out]) == 0
        run, one = load_run(f"{name}-one")
        two_run, two = load_run(f"{name}-two")
        assert two_run.settings["replicas"] == 2, two_run.settings
        assert one.input_shape == two.input_shape  # the run holds the global-batch model
        diffs = [float(np.max(np.abs(a - b))) for a, b in zip(one.get_weights(), two.get_weights())]
        loss = [run.metrics["loss"], two_run.metrics["loss"]]
        results[name] = {"max_abs": max(diffs), "loss": loss}
    print("RESULTS " + json.dumps(results))
    """
)


def _write_data(directory):
    (directory / "corpus.txt").write_text(CORPUS)
    (directory / "sst.txt").write_text(SST)
    (directory / "tiny.conllu").write_text(CONLLU)


def _env(**extra):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _results(stdout):
    line = [line for line in stdout.splitlines() if line.startswith("RESULTS ")][-1]
    return json.loads(line[len("RESULTS ") :])


def test_every_task_under_mirrored_strategy_equals_one_replica(tmp_path):
    _write_data(tmp_path)
    argv = {name: COMMON + task for name, task in TASKS.items()}
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED, json.dumps(argv)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    results = _results(result.stdout)
    print("mirrored vs one replica:", results)  # shown with pytest -s
    for name, figures in results.items():
        assert figures["max_abs"] < 1e-5, (name, figures)
        np.testing.assert_allclose(*figures["loss"], rtol=1e-5, err_msg=name)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _start_workers(directory, argv, workers=2, kill_worker=None, kill_after=None, log="worker"):
    """Worker processes of one cluster on loopback ports; `kill_worker` SIGKILLs itself after
    `kill_after` training steps (tests.test_resume.KILLER)."""
    from tests.test_resume import KILLER

    (directory / "killer.py").write_text(KILLER)
    ports = _free_ports(workers)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    processes = []
    for index in range(workers):
        config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        extra = {"KILL_AFTER": str(kill_after)} if index == kill_worker else {}
        command = ["killer.py"] if index == kill_worker else ["-m", "lstm_zoo.cli"]
        with open(directory / f"{log}-{index}.log", "w") as output:
            processes.append(
                subprocess.Popen(
                    [sys.executable, *command, *argv],
                    cwd=directory,
                    env=_env(TF_CONFIG=config, **extra),
                    stdout=output,
                    stderr=subprocess.STDOUT,
                )
            )
    return processes


def _wait(processes, directory, timeout, log="worker"):
    """(exit codes, logs) once all have ended; any still running after `timeout` is killed."""
    try:
        for process in processes:
            process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    logs = [(directory / f"{log}-{i}.log").read_text() for i in range(len(processes))]
    return [p.returncode for p in processes], logs


def test_tf_config_is_checked_with_a_message_naming_it(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.make_strategy("multi-worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG is not a cluster"):
        distribute.check_tf_config()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": []}, "task": {}}))
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.check_tf_config()
    cluster = {"worker": ["127.0.0.1:1"]}
    monkeypatch.setenv(
        "TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 3}})
    )
    with pytest.raises(ValueError, match="not one of the cluster"):
        distribute.check_tf_config()
    with pytest.raises(ValueError, match="strategy must be one of"):
        distribute.make_strategy("tpu")


def test_in_memory_pipelines_are_sharded_by_data():
    data = distribute.shard_by_data(tf.data.Dataset.range(4))
    policy = data.options().experimental_distribute.auto_shard_policy
    assert policy == tf.data.experimental.AutoShardPolicy.DATA


def test_the_global_batch_must_split_evenly_over_the_replicas():
    class Two:
        num_replicas_in_sync = 2

    assert distribute.per_replica_batch(8, Two()) == 4
    with pytest.raises(ValueError, match="--batch-size 5 must be a multiple of the 2 replicas"):
        distribute.per_replica_batch(5, Two())
    assert distribute.worker_index(tf.distribute.get_strategy()) == 0


def test_multi_worker_run_resumes_after_a_worker_is_killed(tmp_path, monkeypatch):
    """MultiWorkerMirroredStrategy, two workers on loopback: worker 1 is SIGKILLed mid-epoch,
    the chief fails (its peer is gone: one line, exit 1), the same commands restarted resume
    from the workers' backups and end with the weights of one replica trained without a stop
    (so a multi-worker run equals one replica, kill or not)."""
    from lstm_zoo import cli

    _write_data(tmp_path)
    argv = COMMON + TASKS["lm"]
    argv[argv.index("--backup-every") + 1] = "4"
    monkeypatch.chdir(tmp_path)
    cluster = argv + ["--strategy", "multi-worker", "--output", "two"]
    # 19 windows an epoch: killed after step 10 (its backup after step 8).
    first = _start_workers(tmp_path, cluster, kill_worker=1, kill_after=10, log="first")
    assert cli.main(argv + ["--output", "one"]) == 0  # meanwhile: one replica, no stop
    codes, logs = _wait(first[1:], tmp_path, timeout=240, log="first")
    codes, logs = _wait(first, tmp_path, timeout=90, log="first")  # the chief: by itself
    assert codes == [1, -9], "\n".join(log[-2000:] for log in logs)
    assert "lstm-zoo train: error: the cluster lost a worker" in logs[0]
    assert "Traceback" not in logs[0]
    assert not (tmp_path / "two").exists()
    for directory in ("two.partial", "two.partial-worker-1"):
        with np.load(tmp_path / directory / "backup" / "state.npz") as state:
            assert state["position"].tolist() == [0, 8], directory

    second = _start_workers(tmp_path, cluster, log="second")
    codes, logs = _wait(second, tmp_path, timeout=240, log="second")
    assert codes == [0, 0], "\n".join(log[-2000:] for log in logs)
    assert "resuming from" in logs[0] and "epoch 1, after 8 batches" in logs[0]
    _, one = load_run(tmp_path / "one")
    _, two = load_run(tmp_path / "two")
    for a, b in zip(one.get_weights(), two.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    assert not [p.name for p in tmp_path.iterdir() if "partial" in p.name]
