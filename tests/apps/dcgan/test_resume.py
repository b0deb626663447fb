"""A DCGAN training killed with SIGKILL resumes with both networks, both optimizers and the
fixed noise of its sample grids."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from tests.apps.kill_helpers import finished_epochs, kill_after_first_epoch

EPOCHS = 2
EXAMPLES, BATCH_SIZE = 320, 32
STEPS_PER_EPOCH = int(EXAMPLES * 0.9) // BATCH_SIZE


def train_command(run_dir, seed):
    return [
        sys.executable,
        "-m",
        "kapps",
        "dcgan",
        "train",
        "--data",
        "builtin",
        "--max-examples",
        str(EXAMPLES),
        "--batch-size",
        str(BATCH_SIZE),
        "--epochs",
        str(EPOCHS),
        "--generator-width",
        "8",
        "--discriminator-width",
        "8",
        "--latent-dim",
        "16",
        "--sample-images",
        "16",
        "--fid-classifier-width",
        "8",
        "--fid-classifier-epochs",
        "1",
        "--field-metrics-examples",
        "64",
        "--fid-examples",
        "64",
        "--seed",
        str(seed),
        "--run-dir",
        str(run_dir),
    ]


@pytest.mark.slow  # two training processes: about 40 s on 2 cores
def test_kill_9_then_rerun_restores_networks_optimizers_and_fixed_noise(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}
    done_before_kill = kill_after_first_epoch(train_command(run_dir, seed=1), run_dir, env, EPOCHS)
    first_grid_noise = keras.saving.load_model(run_dir / "checkpoints" / "best.keras").fixed_latent.numpy()

    # Another seed: what the rerun would draw itself differs from what it restores.
    rerun = subprocess.run(train_command(run_dir, seed=2), env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert f"Epoch {len(done_before_kill) + 1}/{EPOCHS}" in rerun.stdout and "Epoch 1/" not in rerun.stdout
    assert sorted(set(finished_epochs(run_dir / "history.csv"))) == list(range(EPOCHS))
    model = keras.saving.load_model(run_dir / "model.keras")
    # Both optimizers count every step since the start: their states came back from the backup.
    assert int(model.generator_optimizer.iterations) == EPOCHS * STEPS_PER_EPOCH
    assert int(model.discriminator_optimizer.iterations) == EPOCHS * STEPS_PER_EPOCH
    np.testing.assert_array_equal(model.fixed_latent.numpy(), first_grid_noise)
    assert sorted(path.name for path in (run_dir / "samples").glob("*.png")) == [
        f"epoch_{epoch:03d}.png" for epoch in range(1, EPOCHS + 1)
    ]
