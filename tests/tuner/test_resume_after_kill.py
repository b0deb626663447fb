"""A search that dies in the middle of a trial resumes: the dead trial runs again,
finished trials do not. The first run also restarts after each trial
(`--trials-per-process 1`), resuming in the same way. In process (a crash nothing
catches, at the moment the trial has started) in `make test`; with `kill -9` and the
process replacing itself, as `kapps` runs it, in `make test-slow`."""

import os
import signal
import time

import pytest

from tests.tuner.tuner_helpers import events, read_ledger, run_in_process, start_kapps, tune_argv
from tuner.tuners import TrialBookkeeping

STARTUP_SECONDS = 240


def _wait_for_start_of(trial_id, tune_dir, process):
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if any(record["trial_id"] == trial_id for record in events(read_ledger(tune_dir), "start")):
            return
        assert process.poll() is None, "the search ended before trial 1 started"
        time.sleep(0.05)
    raise AssertionError(f"trial {trial_id} did not start within {STARTUP_SECONDS}s")


class SimulatedCrash(BaseException):
    """Stands in for `kill -9`: not an `Exception`, so neither Keras Tuner nor kapps catches it."""


def _assert_resumed(tune_dir):
    ledger = read_ledger(tune_dir)
    starts = [r["trial_id"] for r in events(ledger, "start")]
    ends = [(r["trial_id"], r["status"]) for r in events(ledger, "end")]
    assert starts == ["0", "1", "1"]  # trial 0 not repeated, the dead trial 1 run again
    assert ends == [("0", "COMPLETED"), ("1", "COMPLETED")]
    rows = (tune_dir / "trials.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",COMPLETED," in row for row in rows[1:])


def test_search_dying_mid_trial_resumes_without_repeating(tmp_path, monkeypatch, capsys):
    tune_dir = tmp_path / "search"
    began = TrialBookkeeping.on_trial_begin

    def crash_once_trial_1_started(tuner, trial):
        began(tuner, trial)
        if trial.trial_id == "1":
            raise SimulatedCrash

    monkeypatch.setattr(TrialBookkeeping, "on_trial_begin", crash_once_trial_1_started)
    with pytest.raises(SimulatedCrash):
        run_in_process(tune_argv(tune_dir, "--trials-per-process", "1", max_trials=2))
    assert "Restarting the tuner process" in capsys.readouterr().out
    assert [r["trial_id"] for r in events(read_ledger(tune_dir), "end")] == ["0"]
    monkeypatch.undo()
    run_in_process(tune_argv(tune_dir, max_trials=2))
    assert "Reloading Tuner" in "".join(capsys.readouterr())
    _assert_resumed(tune_dir)


@pytest.mark.slow
def test_search_killed_mid_trial_resumes_without_repeating(tmp_path):
    tune_dir = tmp_path / "search"
    argv = tune_argv(tune_dir, max_trials=2)
    first = start_kapps(argv + ["--trials-per-process", "1"], tmp_path, tmp_path / "first.log")
    try:
        _wait_for_start_of("1", tune_dir, first)
        os.kill(first.pid, signal.SIGKILL)  # mid-trial: trial 1 has just started
    finally:
        first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL
    ledger = read_ledger(tune_dir)
    assert [r["trial_id"] for r in events(ledger, "end")] == ["0"]
    assert "Restarting the tuner process" in (tmp_path / "first.log").read_text()
    assert {r["pid"] for r in ledger} == {first.pid}  # restarted in place (exec)

    second = start_kapps(argv, tmp_path, tmp_path / "second.log")
    assert second.wait(timeout=STARTUP_SECONDS) == 0, (tmp_path / "second.log").read_text()[-3000:]
    _assert_resumed(tune_dir)
    assert "Reloading Tuner" in (tmp_path / "second.log").read_text()
