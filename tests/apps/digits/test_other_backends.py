"""A model trained on JAX or PyTorch exports: the export re-runs on TensorFlow in a subprocess."""

import keras
import numpy as np
import pytest

from apps.core import workflow
from tests.apps.digits.conftest import tiny_config

pytestmark = pytest.mark.multibackend


@pytest.mark.skipif(keras.backend.backend() == "tensorflow", reason="exports in process on TensorFlow")
def test_export_from_this_backend(app, tmp_path):
    run, _ = workflow.train(app, tiny_config(max_examples=64), tmp_path / "run", verbose=False)
    path = workflow.export(app, run.path, tmp_path / "models")
    assert (path / "saved_model.pb").exists() and path.name == "1"
    config = run.load_config(app.config_class)
    assert config.width == 4 and np.isfinite(run.load_history()["loss"][0])
