"""Keras Tuner's chief/worker mode: one chief and two workers on 127.0.0.1."""

import json

from tests.tuner.tuner_helpers import events, free_port, read_ledger, start_kapps, tune_argv

TRIALS = 2
TIMEOUT_SECONDS = 420


def test_chief_and_two_workers_run_every_trial_exactly_once(tmp_path):
    tune_dir = tmp_path / "search"
    oracle = f"127.0.0.1:{free_port()}"
    common = ["--oracle", oracle, "--threads", "1"]
    chief = start_kapps(
        tune_argv(tune_dir, "--distributed", "chief", *common, max_trials=TRIALS), tmp_path, tmp_path / "chief.log"
    )
    workers = [
        start_kapps(
            tune_argv(tune_dir, "--distributed", "worker", "--tuner-id", f"worker-{index}", *common, max_trials=TRIALS),
            tmp_path,
            tmp_path / f"worker{index}.log",
        )
        for index in range(2)
    ]
    try:
        for name, process in [("worker0", workers[0]), ("worker1", workers[1]), ("chief", chief)]:
            code = process.wait(timeout=TIMEOUT_SECONDS)
            assert code == 0, (tmp_path / f"{name}.log").read_text()[-3000:]
    finally:
        for process in [chief, *workers]:
            if process.poll() is None:
                process.kill()

    ledger = read_ledger(tune_dir)
    expected = [str(index) for index in range(TRIALS)]
    assert sorted(r["trial_id"] for r in events(ledger, "start")) == expected
    assert sorted((r["trial_id"], r["status"]) for r in events(ledger, "end")) == [
        (trial_id, "COMPLETED") for trial_id in expected
    ]
    assert {r["tuner_id"] for r in ledger} <= {"worker-0", "worker-1"}

    summary = json.loads((tune_dir / "trials.json").read_text())
    assert [trial["trial_id"] for trial in summary["trials"]] == expected
    assert all(
        trial["status"] == "COMPLETED" and trial["objective"] is not None and trial["seconds"] > 0
        for trial in summary["trials"]
    )
    assert (tune_dir / "best_hyperparameters.json").exists()
    assert (tune_dir / "objective.png").exists()
    assert "Worker finished" in (tmp_path / "worker0.log").read_text()
