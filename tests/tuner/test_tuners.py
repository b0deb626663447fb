"""Each Keras Tuner tuner through `make_tuner`; grid and Hyperband searched for real;
checkpoint pruning."""

import json

import keras_tuner
import pytest

from tests.tuner.test_hypermodel import _hypermodel
from tests.tuner.tuner_helpers import events, read_ledger, run_in_process, tune_argv
from tuner.checkpoints import CheckpointPruner
from tuner.tuners import TUNER_CLASSES, TrialBookkeeping, make_tuner


@pytest.mark.parametrize("kind", sorted(TUNER_CLASSES))
def test_make_tuner_builds_keras_tuners_own_classes(kind, tmp_path):
    tuner = make_tuner(
        kind,
        _hypermodel(),
        keras_tuner.Objective("val_loss", "min"),
        directory=tmp_path,
        project_name="kt",
        max_trials=3,
        max_epochs=2,
        executions_per_trial=2,
        seed=1,
        overwrite=False,
        fixed={"model": "small"},
    )
    assert isinstance(tuner, TrialBookkeeping)
    assert isinstance(tuner, keras_tuner.Tuner)
    assert tuner.executions_per_trial == 2
    assert tuner.oracle.get_space().values["model"] == "small"


@pytest.mark.parametrize(
    "kind, extra",
    [
        pytest.param("grid", ["--max-trials", "2"], marks=pytest.mark.slow),
        ("hyperband", ["--max-epochs", "2"]),
    ],
)
def test_grid_and_hyperband_searches(kind, extra, tmp_path):
    tune_dir = tmp_path / kind
    run_in_process(tune_argv(tune_dir, "--tuner", kind, max_trials=1) + extra)
    summary = json.loads((tune_dir / "trials.json").read_text())
    assert summary["tuner"] == kind
    assert summary["trials"] and all(t["status"] == "COMPLETED" for t in summary["trials"])
    assert len(events(read_ledger(tune_dir), "end")) == len(summary["trials"])
    if kind == "hyperband":
        assert summary["trials"][0]["hyperparameters"]["tuner/epochs"] == 2


class _Trial:
    def __init__(self, trial_id, status, score=None, parent=None):
        self.trial_id, self.status, self.score = trial_id, status, score
        self.hyperparameters = keras_tuner.HyperParameters()
        if parent:
            self.hyperparameters.values["tuner/trial_id"] = parent


class _Oracle:
    def __init__(self, trials):
        self.trials = {trial.trial_id: trial for trial in trials}

    def get_trial(self, trial_id):
        return self.trials[trial_id]

    def get_best_trials(self, count):
        done = [t for t in self.trials.values() if t.status == "COMPLETED"]
        return sorted(done, key=lambda t: -t.score)[:count]


class _Tuner:
    def __init__(self, project_dir, trials):
        self.project_dir = str(project_dir)
        self.oracle = _Oracle(trials)


def _checkpointed(tmp_path, trial_ids):
    for trial_id in trial_ids:
        folder = tmp_path / f"trial_{trial_id}"
        folder.mkdir()
        (folder / "checkpoint.weights.h5").write_bytes(b"weights")
        (folder / "trial.json").write_text("{}")


def test_pruning_keeps_the_best_and_running_trials(tmp_path):
    _checkpointed(tmp_path, ["0", "1", "2", "3"])
    trials = [
        _Trial("0", "COMPLETED", 0.5),
        _Trial("1", "COMPLETED", 0.9),
        _Trial("2", "RUNNING"),
        _Trial("3", "FAILED"),
    ]
    pruner = CheckpointPruner(_Tuner(tmp_path, trials), keep=1)
    pruner.after_trial(trials[0])
    assert sorted(pruner.trial_ids_with_checkpoints()) == ["1", "2"]
    assert (tmp_path / "trial_0" / "trial.json").exists()


def test_hyperband_pruning_waits_for_the_continuation(tmp_path, monkeypatch):
    _checkpointed(tmp_path, ["0", "1", "2"])
    trials = [_Trial("0", "COMPLETED", 0.5), _Trial("1", "COMPLETED", 0.4), _Trial("2", "COMPLETED", 0.6, parent="0")]
    pruner = CheckpointPruner(_Tuner(tmp_path, trials), keep=1)
    monkeypatch.setattr(CheckpointPruner, "is_hyperband", True)
    pruner.after_trial(trials[1])  # might still be promoted: kept
    assert sorted(pruner.trial_ids_with_checkpoints()) == ["0", "1", "2"]
    pruner.after_trial(trials[2])  # trial 0 continued as trial 2: 0 no longer needed
    assert sorted(pruner.trial_ids_with_checkpoints()) == ["1", "2"]
    pruner.after_search()
    assert pruner.trial_ids_with_checkpoints() == ["2"]
