"""A training hands over the weights of its best measured epoch on the app's objective: in memory,
in `model.keras` (so evaluation and export use them), across a resume, with a record the card reads."""

import json

import keras
import pytest

from apps.core import workflow
from apps.core.best_weights import BestWeights
from apps.core.config import AppConfig
from apps.core.runs import Run
from tests.apps.core.scripted_app import ScriptedApp, data_splits, kernel_sum


class Crash(Exception):
    pass


class CrashAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Crash(f"stopped after epoch {epoch}")


def test_training_ends_on_the_best_epochs_weights_without_a_run():
    app = ScriptedApp(scores=(0.1, 0.5, 0.3, 0.2, 0.1))
    config, data = AppConfig(epochs=5), data_splits()
    model = app.build_model(config, data)
    app.train(model, data, config)
    sums = app.kernel_sums.by_epoch
    assert sums[1] != sums[4]  # the weights moved after the best epoch
    assert kernel_sum(model) == pytest.approx(sums[1])


def test_evaluation_and_the_card_use_the_best_epoch(tmp_path):
    app = ScriptedApp(scores=(0.1, 0.5, 0.3, 0.2, 0.1))
    run, metrics = workflow.train(app, AppConfig(epochs=5), tmp_path / "run", verbose=False)
    sums = app.kernel_sums.by_epoch
    assert metrics["kernel_sum"] == pytest.approx(sums[1]) and metrics["kernel_sum"] != pytest.approx(sums[4])
    _, evaluated = workflow.evaluate(app, run.path)
    assert evaluated["kernel_sum"] == pytest.approx(sums[1])
    assert kernel_sum(keras.saving.load_model(run.best_checkpoint_path)) == pytest.approx(sums[1])
    best = json.loads(run.training_path.read_text())["best_epochs"]
    assert best == [{"monitor": "val_score", "mode": "max", "epoch": 2, "value": 0.5, "last_epoch": 5}]
    assert "- Weights: those of epoch 2 of 5, the best val_score (0.5000)" in workflow.card(app, run.path)


def test_lower_is_better_in_min_mode(tmp_path):
    app = ScriptedApp(scores=(0.4, 0.3, 0.1, 0.6))  # an FID-like score
    app.objective_direction = "min"
    run, _ = workflow.train(app, AppConfig(epochs=4), tmp_path / "run", verbose=False)
    assert run.load_best()["epoch"] == 3


def test_a_resumed_run_restores_a_best_epoch_from_before_the_interruption(tmp_path, monkeypatch):
    first = ScriptedApp(scores=(0.1, 0.9, 0.2))
    config, run_dir = AppConfig(epochs=5), tmp_path / "run"
    original = ScriptedApp.training_callbacks
    with monkeypatch.context() as patch:
        patch.setattr(
            ScriptedApp, "training_callbacks", lambda *args, **kwargs: [*original(*args, **kwargs), CrashAfterEpoch(2)]
        )
        with pytest.raises(Crash):
            workflow.train(first, config, run_dir, verbose=False)
    best_before_the_crash = first.kernel_sums.by_epoch[1]

    resumed = ScriptedApp(scores=(0.3, 0.4))  # epochs 4 and 5 score below epoch 2's 0.9
    run, metrics = workflow.train(resumed, config, run_dir, verbose=False)
    assert sorted(resumed.kernel_sums.by_epoch) == [3, 4]
    assert metrics["kernel_sum"] == pytest.approx(best_before_the_crash)
    assert run.load_best() == {"monitor": "val_score", "mode": "max", "epoch": 2, "value": 0.9, "last_epoch": 5}


def test_a_new_training_in_the_folder_forgets_the_last_ones_best(tmp_path):
    run = Run("scripted", tmp_path / "run")
    workflow.train(ScriptedApp(scores=(0.9, 0.1)), AppConfig(epochs=2), run.path, verbose=False)
    workflow.train(ScriptedApp(scores=(0.2, 0.3)), AppConfig(epochs=2), run.path, verbose=False)
    assert run.load_best()["epoch"] == 2 and run.load_best()["value"] == 0.3


def test_an_objective_never_measured_keeps_the_last_weights_and_says_so(tmp_path):
    app = ScriptedApp()
    app.objective = "val_missing"
    run, _ = workflow.train(app, AppConfig(epochs=2), tmp_path / "run", verbose=False)
    assert json.loads(run.training_path.read_text())["best_epochs"] == []
    assert "- Weights: the last epoch's (val_missing was never measured)" in workflow.card(app, run.path)


def test_mode_must_be_max_or_min():
    with pytest.raises(ValueError, match="'max' or 'min'"):
        BestWeights("val_loss", "auto")
