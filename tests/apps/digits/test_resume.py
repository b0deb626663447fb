"""A training stopped after an epoch (by an error in process; by SIGKILL in the slow test)
resumes from its last finished epoch in the same run folder (`keras.callbacks.BackupAndRestore`)."""

import os
import subprocess
import sys

import keras
import pytest

from apps.core import workflow
from apps.core.app import App
from apps.digits.app import DigitsApp
from tests.apps.digits.conftest import tiny_config
from tests.apps.kill_helpers import finished_epochs, kill_after_first_epoch

EPOCHS = 6


def train_command(run_dir):
    return [
        sys.executable,
        "-m",
        "kapps",
        "digits",
        "train",
        "--data",
        "builtin",
        "--max-examples",
        "512",
        "--width",
        "4",
        "--batch-size",
        "32",
        "--epochs",
        str(EPOCHS),
        "--run-dir",
        str(run_dir),
    ]


class Crash(Exception):
    pass


class CrashAfterEpoch(keras.callbacks.Callback):
    """Raises at the end of epoch `epoch` (0-based), after the run's own callbacks saved it."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise Crash(f"stopped after epoch {epoch}")


def test_a_training_stopped_after_an_epoch_resumes_at_the_next(tmp_path, monkeypatch):
    app, config, run_dir, epochs = DigitsApp(), tiny_config(max_examples=128, epochs=3), tmp_path / "run", 3
    original = App.training_callbacks
    with monkeypatch.context() as patch:
        patch.setattr(
            App, "training_callbacks", lambda *args, **kwargs: [*original(*args, **kwargs), CrashAfterEpoch(1)]
        )
        with pytest.raises(Crash):
            workflow.train(app, config, run_dir, verbose=False)
    assert finished_epochs(run_dir / "history.csv") == [0, 1]
    assert (run_dir / "backup").exists() and not (run_dir / "model.keras").exists()

    run, metrics = workflow.train(app, config, run_dir, verbose=False)
    assert finished_epochs(run.history_path) == list(range(epochs))  # epochs 0 and 1 kept, not rerun
    assert run.model_path.exists() and not run.backup_dir.exists() and "accuracy" in metrics


@pytest.mark.slow
def test_kill_9_then_rerun_resumes(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    done_before_kill = kill_after_first_epoch(train_command(run_dir), run_dir, env, EPOCHS)
    assert (run_dir / "backup").exists() and not (run_dir / "model.keras").exists()

    rerun = subprocess.run(train_command(run_dir), env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    first_resumed = len(done_before_kill) + 1
    assert f"Epoch {first_resumed}/{EPOCHS}" in rerun.stdout
    assert "Epoch 1/" not in rerun.stdout
    epochs = finished_epochs(run_dir / "history.csv")
    assert sorted(set(epochs)) == list(range(EPOCHS))
    assert (run_dir / "model.keras").exists() and not (run_dir / "backup").exists()
