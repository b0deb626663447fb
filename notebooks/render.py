"""Runs notebooks top to bottom, each in a fresh kernel, and stores them with their outputs:
what a reader sees on GitHub (`make notebooks`).

    python notebooks/render.py [NAME.ipynb ...]     (default: every notebook)
"""

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parent
REPO_ROOT = NOTEBOOKS.parent


def execute(notebook, timeout=3600):
    """Runs `notebook` (a NotebookNode) in place, in the repository root, with the project importable."""
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        record_timing=False,
        resources={"metadata": {"path": str(REPO_ROOT)}},
    ).execute()
    return notebook


def render(path):
    notebook = execute(nbformat.read(path, as_version=4))
    nbformat.write(notebook, path)


def main(names):
    for path in [NOTEBOOKS / name for name in names] or sorted(NOTEBOOKS.glob("*.ipynb")):
        started = time.perf_counter()
        render(path)
        print(f"{path.name}: {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
