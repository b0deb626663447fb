"""A tiny digits search in process: report, resume, checkpoints, TensorBoard, objective check."""

import csv
import glob
import json
import os
import shutil

import pytest

from tests.once_per_session import build_once, session_folder
from tests.tuner.tuner_helpers import events, read_ledger, run_in_process, tune_argv


@pytest.fixture(scope="session")
def searched(tmp_path_factory):
    """Two random-search trials, searched once per session (`tests.once_per_session`):
    read-only, a test that continues the search works on a copy."""
    return build_once(
        session_folder(tmp_path_factory) / "tuner-search",
        lambda tune_dir: run_in_process(tune_argv(tune_dir, max_trials=2)),
    )


def _csv_rows(tune_dir):
    with open(tune_dir / "trials.csv") as handle:
        return list(csv.DictReader(handle))


def test_report_lists_every_trial(searched):
    rows = _csv_rows(searched)
    assert [row["trial"] for row in rows] == ["0", "1"]
    assert all(row["status"] == "COMPLETED" for row in rows)
    assert {"model", "width", "optimizer", "learning_rate", "batch_size", "val_accuracy", "seconds"} <= set(rows[0])
    assert all(float(row["seconds"]) > 0 for row in rows)
    summary = json.loads((searched / "trials.json").read_text())
    assert summary["objective"] == {"name": "val_accuracy", "direction": "max"}
    assert len(summary["trials"]) == 2
    best = json.loads((searched / "best_hyperparameters.json").read_text())
    assert best["trial_id"] == summary["best_trial_id"]
    assert best["config"]["model"] == "cnn" and best["config"]["width"] == 8
    assert best["config"]["optimizer"] == best["hyperparameters"]["optimizer"]
    assert (searched / "objective.png").stat().st_size > 1000


def test_tensorboard_logs_per_trial_with_hparams(searched):
    for trial_id in ("0", "1"):
        files = glob.glob(str(searched / "tensorboard" / trial_id / "execution0" / "**" / "events.*"), recursive=True)
        assert files, f"no TensorBoard events for trial {trial_id}"
        assert any(b"hparams" in open(path, "rb").read() for path in files)


def test_only_the_best_trials_checkpoint_is_kept(searched):
    kept = glob.glob(str(searched / "keras_tuner" / "trial_*" / "checkpoint*"))
    best = json.loads((searched / "best_hyperparameters.json").read_text())["trial_id"]
    assert [os.path.basename(os.path.dirname(path)) for path in kept] == [f"trial_{best}"]


def test_same_command_resumes_without_repeating(searched, tmp_path):
    searched = shutil.copytree(searched, tmp_path / "search")
    run_in_process(tune_argv(searched, max_trials=2))
    assert len(events(read_ledger(searched), "start")) == 2  # nothing ran again


def test_resuming_another_search_is_refused(searched, tmp_path):
    searched = shutil.copytree(searched, tmp_path / "search")
    with pytest.raises(SystemExit, match="different search"):
        run_in_process(tune_argv(searched, "--tuner", "bayesian", max_trials=3))


def test_missing_objective_fails_before_the_first_trial(tmp_path):
    tune_dir = tmp_path / "bad"
    with pytest.raises(SystemExit) as failure:
        run_in_process(tune_argv(tune_dir, "--objective", "val_f1", "--direction", "max"))
    message = str(failure.value)
    assert "val_f1" in message and "val_accuracy" in message and "val_loss" in message
    assert not glob.glob(str(tune_dir / "keras_tuner" / "trial_*"))
    assert not read_ledger(tune_dir)


def test_more_trials_continue_the_search_then_the_best_is_retrained(searched, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    searched = shutil.copytree(searched, tmp_path / "search")
    run_in_process(
        tune_argv(
            searched,
            "--retrain-best",
            "--retrain-max-examples",
            "300",
            "--model-base-path",
            str(tmp_path / "models"),
            max_trials=3,
        )
    )
    starts = [record["trial_id"] for record in events(read_ledger(searched), "start")]
    assert starts == ["0", "1", "2"]
    assert [row["trial"] for row in _csv_rows(searched)] == ["0", "1", "2"]
    retrained = json.loads((searched / "retrained.json").read_text())
    assert os.path.exists(os.path.join(retrained["run_dir"], "model.keras"))
    assert retrained["config"]["max_examples"] == 300
    best = json.loads((searched / "best_hyperparameters.json").read_text())
    assert retrained["config"]["optimizer"] == best["config"]["optimizer"]
    assert os.path.exists(os.path.join(retrained["export"], "saved_model.pb"))


def test_a_search_outside_a_notebook_does_not_clear_the_output(monkeypatch):
    """Keras Tuner takes a process that can import IPython for a notebook and would write
    terminal escapes after each trial into a log file."""
    from keras_tuner.src import utils

    from tuner.search import clear_trial_output_in_notebooks_only

    monkeypatch.setattr(utils, "IS_NOTEBOOK", True)  # what keras-tuner 1.4.8 decides where IPython is installed
    clear_trial_output_in_notebooks_only()
    assert utils.IS_NOTEBOOK is False
