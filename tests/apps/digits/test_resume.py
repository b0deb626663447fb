"""A training killed with SIGKILL resumes from its last finished epoch in the same run folder."""

import os
import subprocess
import sys

from tests.apps.kill_helpers import finished_epochs, kill_after_first_epoch

EPOCHS = 6


def train_command(run_dir):
    return [sys.executable, "-m", "apps", "digits", "train", "--data", "builtin", "--max-examples", "512",
            "--width", "4", "--batch-size", "32", "--epochs", str(EPOCHS), "--run-dir", str(run_dir)]




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
