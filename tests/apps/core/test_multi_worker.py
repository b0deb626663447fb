"""`--distribute multi-worker`: two `kapps digits train` processes on 127.0.0.1 train one
model together (`tf.distribute.MultiWorkerMirroredStrategy` from `TF_CONFIG`)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.apps.kill_helpers import finished_epochs

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
WORKERS = 2
TIMEOUT_SECONDS = 300


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for probe in sockets:
        probe.bind(("127.0.0.1", 0))
    ports = [probe.getsockname()[1] for probe in sockets]
    for probe in sockets:
        probe.close()
    return ports


def _start_workers(run_dir, tmp_path, epochs, ports):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    command = [
        sys.executable,
        "-m",
        "kapps",
        "--backend",
        "tensorflow",
        "digits",
        "train",
        "--data",
        "builtin",
        "--epochs",
        str(epochs),
        "--max-examples",
        "256",
        "--batch-size",
        "64",
        "--width",
        "4",
        "--distribute",
        "multi-worker",
        "--run-dir",
        str(run_dir),
    ]
    processes = []
    for index in range(WORKERS):
        env = {
            **os.environ,
            "PYTHONPATH": REPO_ROOT,
            "KERAS_BACKEND": "tensorflow",
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}}),
        }
        log = open(tmp_path / f"worker{index}.log", "a")
        processes.append(subprocess.Popen(command, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT))
    return processes


def _wait_all(processes, tmp_path):
    try:
        for index, process in enumerate(processes):
            code = process.wait(timeout=TIMEOUT_SECONDS)
            assert code == 0, (tmp_path / f"worker{index}.log").read_text()[-3000:]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()


def _trainable_weights(path):
    import keras

    from apps.catalog import load_apps

    load_apps().get("digits")  # registers the app's layers
    return [keras.ops.convert_to_numpy(weight) for weight in keras.saving.load_model(path).trainable_weights]


def _assert_same_model(run_dir):
    """Every trainable weight identical on both workers (batch normalisation's moving
    statistics are not compared: each worker averages its own batches, as in TensorFlow)."""
    chief = _trainable_weights(run_dir / "model.keras")
    worker = _trainable_weights(run_dir / "worker-1" / "model.keras")
    assert len(chief) == len(worker) > 0
    for chief_weight, worker_weight in zip(chief, worker):
        np.testing.assert_array_equal(chief_weight, worker_weight)


def test_two_workers_train_one_model_and_only_the_chief_writes_the_run(tmp_path):
    run_dir = tmp_path / "run"
    _wait_all(_start_workers(run_dir, tmp_path, 1, _free_ports(WORKERS)), tmp_path)
    _assert_same_model(run_dir)
    training = json.loads((run_dir / "training.json").read_text())
    assert training["devices"] == "multi-worker, 2 replicas (chief)"
    assert "Training on multi-worker, 2 replicas (worker 1)" in (tmp_path / "worker1.log").read_text()
    assert (run_dir / "metrics.json").exists() and (run_dir / "worker-1" / "metrics.json").exists()


@pytest.mark.slow
def test_a_killed_worker_is_restarted_and_the_cluster_resumes_from_the_last_epoch(tmp_path):
    """TensorFlow's fault-tolerance guidance: when a worker dies the others fail, the cluster
    manager restarts every worker with the same command, and `BackupAndRestore` resumes them at
    the last finished epoch."""
    run_dir, epochs = tmp_path / "run", 3
    ports = _free_ports(WORKERS)
    processes = _start_workers(run_dir, tmp_path, epochs, ports)
    try:
        while not finished_epochs(run_dir / "history.csv"):
            assert all(process.poll() is None for process in processes), (tmp_path / "worker0.log").read_text()[-3000:]
            time.sleep(0.05)
        os.kill(processes[1].pid, signal.SIGKILL)
        assert processes[0].wait(timeout=TIMEOUT_SECONDS) != 0  # the chief fails, it does not hang
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    done = finished_epochs(run_dir / "history.csv")
    assert done and len(done) < epochs
    before = (run_dir / "history.csv").read_text()
    _wait_all(_start_workers(run_dir, tmp_path, epochs, ports), tmp_path)
    assert (run_dir / "history.csv").read_text().startswith(before)  # resumed: finished epochs kept, not rerun
    assert finished_epochs(run_dir / "history.csv") == list(range(epochs))
    _assert_same_model(run_dir)
