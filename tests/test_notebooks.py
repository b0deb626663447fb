"""Notebooks run headless, top to bottom, on tiny settings."""

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parents[1]


# Each notebook and a line of its printed evaluation.
NOTEBOOKS = {"digits.ipynb": "accuracy:", "churn.ipynb": "roc_auc:", "sentiment.ipynb": "accuracy:",
             "segmentation.ipynb": "mean_iou:",
             "dcgan.ipynb": "fid:", "detection.ipynb": "map50:"}


def test_every_notebook_is_tested():
    assert sorted(path.name for path in (REPO_ROOT / "notebooks").glob("*.ipynb")) == sorted(NOTEBOOKS)


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_executes(name, monkeypatch):
    monkeypatch.setenv("KAPPS_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(REPO_ROOT / "notebooks" / name, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO_ROOT)}}).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]
    assert not [out for out in outputs if out.get("output_type") == "error"]
    text = "".join(out.get("text", "") for out in outputs)
    assert NOTEBOOKS[name] in text
