"""Tuner benchmark: trials per hour with 1 and 2 workers, and memory over many trials.

    python benchmarks/tuner.py throughput --trials 8      # 1 worker vs 2 workers
    python benchmarks/tuner.py memory --trials 20         # RSS after each of 20 trials

throughput: the same small digits random search (builtin data, --max-examples 300,
width-8 CNN, 1 epoch) runs twice through Keras Tuner's chief/worker mode on
127.0.0.1: once with one worker, once with two. Each worker stands for one
machine: it gets one TensorFlow thread (`--threads 1`) and, where the machine has
a core per worker, its own core (CPU affinity), so the comparison is "1 worker on
1 core" against "2 workers on a core each": the speed-up measures how well the
chief/worker search runs trials side by side, not TensorFlow's multithreading. Trials per
hour are counted between the first trial's start and the last trial's end in the
trial ledger (process start-up, the same for both, is reported separately).

memory: one search of N trials in one process; the resident memory after each
trial (from the ledger) shows whether anything is kept per trial (a drop larger
than 50 MiB would be a `--trials-per-process` restart; none by default).
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RESTART_DROP_MB = 50  # a drop this large between two trials is a process restart
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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("throughput", "memory"))
    parser.add_argument(
        "--trials", type=int, default=None, help="trials per search (default: 8 for throughput, 20 for memory)"
    )
    parser.add_argument("--app", default="digits")
    parser.add_argument("--workdir", help="where the searches write (default: a temporary folder)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    return parser.parse_args(argv)


def environment():
    env = {key: value for key, value in os.environ.items() if not key.startswith("KERASTUNER_")}
    env.update(
        PYTHONPATH=str(REPO_ROOT), KERAS_BACKEND=env.get("KERAS_BACKEND", "tensorflow"), TF_CPP_MIN_LOG_LEVEL="3"
    )
    return env


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def tune_command(app, tune_dir, trials, *extra):
    return [
        sys.executable,
        "-m",
        "kapps",
        app,
        "tune",
        *TINY_SEARCH,
        "--max-trials",
        str(trials),
        "--tune-dir",
        str(tune_dir),
        *extra,
    ]


def read_ledger(tune_dir):
    path = Path(tune_dir) / "trial_runs.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def pin_to_core(index, workers):
    """A `preexec_fn` giving worker `index` a core of its own, or None when cores are too few."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cores) < workers:
        return None
    return lambda: os.sched_setaffinity(0, {cores[index]})


def run_distributed(app, tune_dir, trials, workers):
    """Chief + `workers` workers, one thread (and core) each; returns wall seconds end to end."""
    oracle = f"127.0.0.1:{free_port()}"
    common = ["--oracle", oracle, "--threads", "1"]
    started = time.monotonic()
    processes = [
        subprocess.Popen(
            tune_command(app, tune_dir, trials, "--distributed", "chief", *common),
            env=environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    ]
    for index in range(workers):
        processes.append(
            subprocess.Popen(
                tune_command(
                    app, tune_dir, trials, "--distributed", "worker", "--tuner-id", f"worker-{index}", *common
                ),
                env=environment(),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                preexec_fn=pin_to_core(index, workers),
            )
        )
    codes = [process.wait() for process in processes]
    if any(codes):
        raise RuntimeError(f"a tuner process failed: exit codes {codes}")
    return time.monotonic() - started


def trial_window(ledger):
    """Seconds from the first trial's start to the last trial's end."""
    starts = [record["time"] for record in ledger if record["event"] == "start"]
    ends = [record["time"] for record in ledger if record["event"] == "end"]
    return max(ends) - min(starts)


def measure_throughput(app, trials, workdir):
    results = {}
    for workers in (1, 2):
        tune_dir = Path(workdir) / f"workers{workers}"
        wall = run_distributed(app, tune_dir, trials, workers)
        ledger = read_ledger(tune_dir)
        completed = sum(1 for record in ledger if record["event"] == "end" and record["status"] == "COMPLETED")
        window = trial_window(ledger)
        results[workers] = {
            "workers": workers,
            "trials": completed,
            "trial_window_s": round(window, 1),
            "wall_s": round(wall, 1),
            "trials_per_hour": round(completed * 3600 / window, 1),
            "mean_trial_s": round(
                statistics.mean(record["seconds"] for record in ledger if record["event"] == "end"), 2
            ),
        }
        print(json.dumps(results[workers]), flush=True)
    speedup = results[2]["trials_per_hour"] / results[1]["trials_per_hour"]
    print(f"\n1 worker : {results[1]['trials_per_hour']:.0f} trials/hour (mean trial {results[1]['mean_trial_s']} s)")
    print(f"2 workers: {results[2]['trials_per_hour']:.0f} trials/hour (mean trial {results[2]['mean_trial_s']} s)")
    print(
        f"speed-up : {speedup:.2f}x (goal >= 1.7x) on {os.cpu_count()} CPU cores, "
        f"1 TensorFlow thread per worker" + (", each worker on its own core" if pin_to_core(0, 2) else "")
    )
    return {"runs": list(results.values()), "speedup": round(speedup, 3), "cpus": os.cpu_count()}


def measure_memory(app, trials, workdir):
    tune_dir = Path(workdir) / "memory"
    subprocess.run(
        tune_command(app, tune_dir, trials),
        env=environment(),
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rss = [record["rss_mb"] for record in read_ledger(tune_dir) if record["event"] == "end"]
    steps = [after - before for before, after in zip(rss, rss[1:])]
    restarts = [index + 1 for index, step in enumerate(steps) if step < -RESTART_DROP_MB]
    within = [step for step in steps if step >= -RESTART_DROP_MB]
    per_trial = statistics.mean(within) if within else 0.0
    print("RSS after each trial (MiB):", ", ".join(f"{value:.0f}" for value in rss))
    print(
        f"first {rss[0]:.0f} MiB, last {rss[-1]:.0f} MiB, max {max(rss):.0f} MiB; "
        f"within a process {per_trial:+.1f} MiB/trial; process restarted before trial(s) "
        f"{restarts or 'none'} (--trials-per-process)"
    )
    return {
        "rss_mb": rss,
        "max_mb": max(rss),
        "per_trial_within_process_mb": round(per_trial, 2),
        "restarts_before_trial_index": restarts,
    }


def main(argv=None):
    args = parse_args(argv)
    workdir = args.workdir or tempfile.mkdtemp(prefix="kapps-tuner-bench-")
    if args.mode == "throughput":
        results = measure_throughput(args.app, args.trials or 8, workdir)
    else:
        results = measure_memory(args.app, args.trials or 20, workdir)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
