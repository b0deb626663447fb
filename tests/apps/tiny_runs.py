"""One tiny run per app and backend, trained and exported once per test session.

The shared app test (`test_every_app.py`) and the app's own workflow tests all need a
trained tiny run and its SavedModel; training one takes seconds to a minute, so the first
test to ask, in whichever xdist worker, trains it (with the shared checks of
`app_checks.train_tiny`) and the others wait for it and read it. The run and the export are
read-only: a test that writes into a run (evaluate, a changed metrics file) works on
`copy_of(run, tmp_path)`.
"""

import os
import shutil

from filelock import FileLock

from apps.core.runs import Run
from tests.apps import app_checks


def _session_folder(tmp_path_factory):
    """The folder of this pytest session, shared by its xdist workers (each worker's own
    temporary folder, `popen-gwN`, sits inside it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _app_folder(app, tmp_path_factory):
    import keras

    return _session_folder(tmp_path_factory) / "tiny-runs" / f"{app.name}-{keras.backend.backend()}"


def _once(folder, build):
    """Runs `build(folder)` unless a test in any worker completed it already; a build that
    failed is started afresh by the next test that asks."""
    complete = folder.with_name(f"{folder.name}.complete")
    with FileLock(str(folder.with_name(f"{folder.name}.lock"))):
        if not complete.exists():
            shutil.rmtree(folder, ignore_errors=True)
            build(folder)
            complete.touch()


def trained(app, tmp_path_factory):
    """`(run, metrics)`: the app's tiny config trained through `workflow.train` by
    `app_checks.train_tiny` (on two replicas where the backend has an engine)."""
    folder = _app_folder(app, tmp_path_factory) / "run"
    _once(folder, lambda path: app_checks.train_tiny(app, path))
    run = Run(app.name, folder)
    return run, run.load_metrics()


def exported(app, tmp_path_factory):
    """`(model_base_path, version folder)`: the tiny run exported through `workflow.export`
    (on JAX/PyTorch, by its TensorFlow subprocess)."""
    from apps.core import workflow

    run, _ = trained(app, tmp_path_factory)
    base = _app_folder(app, tmp_path_factory) / "models"
    _once(base, lambda path: workflow.export(app, run.path, path, log=lambda line: None))
    return base, base / app.name / "1"


def copy_of(run, tmp_path):
    """A copy of `run` that a test may write into."""
    return Run(run.app_name, shutil.copytree(run.path, tmp_path / "run-copy"))
