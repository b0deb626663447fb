"""Files built once per test session and shared by every xdist worker.

A module- or session-scoped fixture is built once per worker: with two workers, an
expensive one (a trained run, a tuning search) is often built twice. `build_once` builds it
in the session's own folder the first time any worker asks; the others wait for it and read
it. What it builds is read-only: a test that changes it works on a copy.
"""

import os
import shutil

from filelock import FileLock


def session_folder(tmp_path_factory):
    """The folder of this pytest session, shared by its xdist workers (each worker's own
    temporary folder, `popen-gwN`, sits inside it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def build_once(folder, build):
    """Runs `build(folder)` unless a test in any worker completed it already; a build that
    failed is started afresh by the next test that asks. Returns `folder`."""
    complete = folder.with_name(f"{folder.name}.complete")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.with_name(f"{folder.name}.lock"))):
        if not complete.exists():
            shutil.rmtree(folder, ignore_errors=True)
            build(folder)
            complete.touch()
    return folder
