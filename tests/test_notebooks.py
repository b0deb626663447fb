"""Notebooks: in `make test`, their code compiles, every name they take from the project
exists and they are stored run, with their outputs (`make notebooks` renders them); in
`make test-slow`, each runs headless, top to bottom, on tiny settings (a Jupyter kernel each:
about half a minute apiece on 2 cores)."""

import ast
import importlib
import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO_ROOT = Path(__file__).resolve().parents[1]


# Each notebook and a line of its printed evaluation.
NOTEBOOKS = {
    "digits.ipynb": "accuracy:",
    "churn.ipynb": "roc_auc:",
    "sentiment.ipynb": "accuracy:",
    "segmentation.ipynb": "mean_iou:",
    "dcgan.ipynb": "fid:",
    "detection.ipynb": "map50:",
}


def test_every_notebook_is_tested():
    assert sorted(path.name for path in (REPO_ROOT / "notebooks").glob("*.ipynb")) == sorted(NOTEBOOKS)


def code_cells(name):
    notebook = nbformat.read(REPO_ROOT / "notebooks" / name, as_version=4)
    return [cell.source for cell in notebook.cells if cell.cell_type == "code"]


def imported_from_project(module_name, name):
    """What `from module_name import name` binds, or None when the project has no such name."""
    module = importlib.import_module(module_name)
    if hasattr(module, name):
        return getattr(module, name)
    try:
        return importlib.import_module(f"{module_name}.{name}")
    except ModuleNotFoundError:
        return None


def missing_project_names(tree, bound_modules):
    """The names a cell takes from the project (`from apps... import x`, then `module.x`
    on a module imported that way) that do not exist."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module.split(".")[0] in ("apps", "tuner", "serving"):
            for alias in node.names:
                value = imported_from_project(node.module, alias.name)
                if value is None:
                    yield f"{node.module}.{alias.name}"
                elif isinstance(value, type(ast)):
                    bound_modules[alias.asname or alias.name] = value
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in bound_modules
            and not hasattr(bound_modules[node.value.id], node.attr)
        ):
            yield f"{bound_modules[node.value.id].__name__}.{node.attr}"


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_code_compiles_and_uses_names_that_exist(name):
    """Catches a notebook left behind by a rename without running it: each cell compiles,
    and every project function, class and `app.` hook it names exists."""
    from apps.catalog import load_apps

    app = load_apps().get(Path(name).stem)
    bound_modules, missing = {}, []
    for index, source in enumerate(code_cells(name)):
        tree = compile(source, f"{name}[{index}]", "exec", ast.PyCF_ONLY_AST)
        missing += missing_project_names(tree, bound_modules)
        missing += [
            f"app.{node.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "app"
            and not hasattr(app, node.attr)
        ]
    assert not missing, f"{name} uses names the project no longer has: {missing}"


# TensorFlow's log lines and the redraws of a progress bar, which a stored notebook should not hold.
NOISE = re.compile(
    r"^([IWEF]\d{4} |WARNING: All log messages|WARNING:tensorflow|INFO:tensorflow)|\r|retracing", re.MULTILINE
)
LARGEST_STORED_NOTEBOOK = 1_500_000  # bytes: outputs hold PNG figures, not big images


def stored_outputs(notebook):
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.get("outputs", [])]


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_is_stored_run_top_to_bottom_with_its_outputs(name):
    """What a reader sees on GitHub: every cell run once, in order, its evaluation printed and
    its figures shown, no errors, no log noise (`make notebooks` renders them)."""
    path = REPO_ROOT / "notebooks" / name
    notebook = nbformat.read(path, as_version=4)
    counts = [cell.execution_count for cell in notebook.cells if cell.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), f"{name} is not stored run top to bottom: `make notebooks`"
    outputs = stored_outputs(notebook)
    assert not [out for out in outputs if out.output_type == "error"]
    text = "".join(out.get("text", "") for out in outputs)
    assert NOTEBOOKS[name] in text and not NOISE.search(text), text[-2000:]
    assert any("image/png" in out.get("data", {}) for out in outputs)
    assert path.stat().st_size < LARGEST_STORED_NOTEBOOK


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebook_executes(name, monkeypatch):
    monkeypatch.setenv("KAPPS_NOTEBOOK_QUICK", "1")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(REPO_ROOT / "notebooks" / name, as_version=4)
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(REPO_ROOT)}}
    ).execute()
    outputs = stored_outputs(notebook)
    assert not [out for out in outputs if out.get("output_type") == "error"]
    text = "".join(out.get("text", "") for out in outputs)
    assert NOTEBOOKS[name] in text and not NOISE.search(text), text[-2000:]
