"""Kill a `kapps ... train` process with SIGKILL once it has finished an epoch (resume tests)."""

import csv
import os
import signal
import subprocess
import time


def finished_epochs(history_path):
    """Epoch numbers in a run's `history.csv` (empty before the first epoch ends)."""
    if not history_path.exists():
        return []
    with open(history_path) as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def kill_after_first_epoch(command, run_dir, env, epochs, timeout=240):
    """Starts `command`, kills it with SIGKILL as soon as `run_dir` logs a finished epoch and
    before the last; returns the epochs finished before the kill."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while not finished_epochs(run_dir / "history.csv") and time.time() < deadline:
        assert process.poll() is None, "training ended before it could be killed"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = finished_epochs(run_dir / "history.csv")
    assert done and len(done) < epochs
    return done
