"""Helpers for the tuner tests: tiny digits searches, in process or as `kapps` processes."""

import json
import os
import socket
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# A tiny digits search: 300 builtin examples, 1 epoch, a width-8 plain CNN.
TINY_SEARCH = [
    "--data",
    "builtin",
    "--max-examples",
    "300",
    "--max-epochs",
    "1",
    "--fix",
    "model=cnn",
    "--fix",
    "width=8",
    "--verbose",
    "0",
]


def tune_argv(tune_dir, *extra, max_trials=2):
    return ["digits", "tune", *TINY_SEARCH, "--max-trials", str(max_trials), "--tune-dir", str(tune_dir), *extra]


def run_in_process(argv):
    from kapps.cli import main

    return main(argv)


def kapps_command(argv):
    return [sys.executable, "-m", "kapps", *argv]


def subprocess_env():
    env = {key: value for key, value in os.environ.items() if not key.startswith("KERASTUNER_")}
    env.update(
        PYTHONPATH=REPO_ROOT + os.pathsep + env.get("PYTHONPATH", ""),
        KERAS_BACKEND="tensorflow",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    return env


def start_kapps(argv, cwd, log_path):
    log = open(log_path, "w")
    return subprocess.Popen(kapps_command(argv), cwd=cwd, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT)


def read_ledger(tune_dir):
    path = os.path.join(tune_dir, "trial_runs.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def events(ledger, kind):
    return [record for record in ledger if record["event"] == kind]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
