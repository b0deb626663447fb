"""One tiny run per app and backend, trained and exported once per test session.

The shared app test (`test_every_app.py`) and the app's own workflow tests all need a
trained tiny run and its SavedModel; training one takes seconds to a minute, so the first
test to ask, in whichever xdist worker, trains it (with the shared checks of
`app_checks.train_tiny`) and the others read it (`tests.once_per_session`). The run and the
export are read-only: a test that writes into a run (evaluate, a changed metrics file) works
on `copy_of(run, tmp_path)`.
"""

import shutil

from apps.core.runs import Run
from tests.apps import app_checks
from tests.once_per_session import build_once, session_folder


def _app_folder(app, tmp_path_factory):
    import keras

    return session_folder(tmp_path_factory) / "tiny-runs" / f"{app.name}-{keras.backend.backend()}"


def trained(app, tmp_path_factory):
    """`(run, metrics)`: the app's tiny config trained through `workflow.train` by
    `app_checks.train_tiny` (on two replicas where the backend has an engine)."""
    folder = _app_folder(app, tmp_path_factory) / "run"
    build_once(folder, lambda path: app_checks.train_tiny(app, path))
    run = Run(app.name, folder)
    return run, run.load_metrics()


def exported(app, tmp_path_factory):
    """`(model_base_path, version folder)`: the tiny run exported through `workflow.export`
    (on JAX/PyTorch, by its TensorFlow subprocess)."""
    from apps.core import workflow

    run, _ = trained(app, tmp_path_factory)
    base = _app_folder(app, tmp_path_factory) / "models"
    build_once(base, lambda path: workflow.export(app, run.path, path, log=lambda line: None))
    return base, base / app.name / "1"


def copy_of(run, tmp_path):
    """A copy of `run` that a test may write into."""
    return Run(run.app_name, shutil.copytree(run.path, tmp_path / "run-copy"))
