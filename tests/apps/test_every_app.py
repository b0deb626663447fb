"""Every registered app through the shared checks (`tests/apps/app_checks.py`), on its
builtin data with its tiny config. A new app is parametrized in automatically."""

import pytest

from apps.catalog import load_apps
from tests.apps import app_checks, tiny_runs

APP_NAMES = load_apps().names()


@pytest.fixture(params=APP_NAMES)
def app(request):
    return load_apps().get(request.param)


def test_every_catalog_entry_reads_what_its_app_class_holds():
    registry = load_apps()
    for name in APP_NAMES:
        entry, app_class = registry.entry(name), registry.entry(name).app_class()
        assert (app_class.name, app_class.title, app_class.objective, app_class.config_class) == (
            name,
            entry.title,
            entry.objective,
            entry.config_class,
        )


# Off TensorFlow, `kapps export` reruns itself on TensorFlow in a subprocess that loads the
# `.keras` file this backend wrote: `make test` checks that on churn, the cheapest app
# (each subprocess starts TensorFlow afresh), `make test-slow` on every app.
EXPORTED_OFF_TENSORFLOW_IN_FAST_TESTS = ("churn",)


@pytest.mark.multibackend
def test_train_reload_evaluate_export_serve(app, tmp_path, tmp_path_factory):
    """On every backend: train through `App.train` (on two replicas: `mirrored` on
    TensorFlow, `data-parallel` on JAX) with the evaluation in TensorBoard, reload the `.keras`
    file, evaluate. On TensorFlow, export a SavedModel that takes the same raw inputs and answers
    every sample request,
    in process and over REST and gRPC; off it, export churn's run (the others: slow test below).
    The run and the export are the session's (`tiny_runs`), which the app's own tests read too."""
    import keras

    app_checks.check_contract(app)
    run, metrics = tiny_runs.trained(app, tmp_path_factory)
    app_checks.check_tensorboard(app, run, metrics)
    app_checks.check_reload_and_evaluate(app, tiny_runs.copy_of(run, tmp_path), metrics)
    if keras.backend.backend() == "tensorflow":
        base, export_dir = tiny_runs.exported(app, tmp_path_factory)
        answers = app_checks.check_export(app, run, export_dir)
        app_checks.check_served(app, base, answers)
    elif app.name in EXPORTED_OFF_TENSORFLOW_IN_FAST_TESTS:
        app_checks.check_export(app, run, tiny_runs.exported(app, tmp_path_factory)[1])


@pytest.mark.slow
@pytest.mark.multibackend
def test_a_run_trained_off_tensorflow_exports(app, tmp_path_factory):
    """Every app's run trained on JAX/PyTorch exports (through the TensorFlow subprocess)
    a SavedModel that answers every sample request."""
    import keras

    if keras.backend.backend() == "tensorflow":
        pytest.skip("on TensorFlow, test_train_reload_evaluate_export_serve exports every app")
    run, _ = tiny_runs.trained(app, tmp_path_factory)
    app_checks.check_export(app, run, tiny_runs.exported(app, tmp_path_factory)[1])


def test_a_mixed_precision_tuning_trial_trains_through_the_app(app, tmp_path, monkeypatch):
    app_checks.check_tune(app, tmp_path / "tune", monkeypatch)
