"""Every registered app through the shared checks (`tests/apps/app_checks.py`), on its
builtin data with its tiny config. A new app is parametrized in automatically."""

import numpy as np
import pytest

from apps.catalog import load_apps
from tests.apps import app_checks

APP_NAMES = load_apps().names()


@pytest.fixture(params=APP_NAMES)
def app(request):
    return load_apps().get(request.param)


def test_every_catalog_entry_matches_its_app_class():
    registry = load_apps()
    for name in APP_NAMES:
        entry = registry.entry(name)
        assert entry.app_class().name == name  # raises on any disagreement


# Off TensorFlow, `kapps export` reruns itself on TensorFlow in a subprocess that loads the
# `.keras` file this backend wrote: `make test` checks that on churn, the cheapest app
# (each subprocess starts TensorFlow afresh), `make test-slow` on every app.
EXPORTED_OFF_TENSORFLOW_IN_FAST_TESTS = ("churn",)


@pytest.mark.multibackend
def test_train_reload_evaluate_export_serve(app, tmp_path, monkeypatch):
    """On every backend: train through `App.train` (on two replicas: `mirrored` on
    TensorFlow, `data-parallel` on JAX), reload the `.keras` file, evaluate. On TensorFlow,
    export a SavedModel that takes the same raw inputs and answers every sample request,
    in process and over REST and gRPC; off it, export churn's run (the others: slow test below)."""
    import keras

    app_checks.check_contract(app)
    run, metrics = app_checks.train_tiny(app, tmp_path / "run", monkeypatch)
    app_checks.check_reload_and_evaluate(app, run, metrics)
    if keras.backend.backend() == "tensorflow":
        _, answers = app_checks.check_export(app, run, tmp_path / "models")
        app_checks.check_served(app, tmp_path / "models", answers)
    elif app.name in EXPORTED_OFF_TENSORFLOW_IN_FAST_TESTS:
        app_checks.check_export(app, run, tmp_path / "models")


@pytest.mark.slow
@pytest.mark.multibackend
def test_a_run_trained_off_tensorflow_exports(app, tmp_path, monkeypatch):
    """Every app's run trained on JAX/PyTorch exports (through the TensorFlow subprocess)
    a SavedModel that answers every sample request."""
    import keras

    if keras.backend.backend() == "tensorflow":
        pytest.skip("on TensorFlow, test_train_reload_evaluate_export_serve exports every app")
    run, _ = app_checks.train_tiny(app, tmp_path / "run", monkeypatch)
    app_checks.check_export(app, run, tmp_path / "models")


def test_a_tuning_trial_trains_through_the_app(app, tmp_path, monkeypatch):
    app_checks.check_tune(app, tmp_path / "tune", monkeypatch)


def test_mixed_precision_trains_and_answers_in_float32(app):
    """`--mixed-precision`: computations in 16 bits, yet what the model and the decode step
    return (losses, metrics, served outputs) stays float32."""
    import keras

    config = app.tiny_config().replace(mixed_precision=True)
    data = app.load_data(config)
    model = app.make_model(config, data)
    assert model.dtype_policy.name in ("mixed_bfloat16", "mixed_float16")
    batch = next(iter(data.train))
    logs = model.train_on_batch(*batch, return_dict=True) if isinstance(batch, tuple) else \
        model.train_on_batch(batch, return_dict=True)
    assert all(np.isfinite(float(value)) for value in logs.values()), logs
    inputs = batch[0] if isinstance(batch, tuple) else batch
    outputs = app.decode_predictions(model(inputs, training=False), model)
    low = {name: keras.backend.standardize_dtype(value.dtype) for name, value in outputs.items()
           if keras.backend.standardize_dtype(value.dtype) in ("bfloat16", "float16")}
    assert not low, f"16-bit outputs reach the decode step: {low}"
