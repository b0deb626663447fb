"""Imports run one way: `layers/` and `serving/` know nothing of the apps or the tuner above them
(read from the source, function-level imports included)."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FLOORS = {"layers": ("apps", "tuner"), "serving": ("apps", "tuner")}


def _imported_packages(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name.split(".")[0], node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0], node.lineno


@pytest.mark.parametrize("package", sorted(FLOORS))
def test_lower_floors_do_not_import_the_ones_above(package):
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {name}"
             for path in sorted((ROOT / package).rglob("*.py"))
             for name, line in _imported_packages(path) if name in FLOORS[package]]
    assert not wrong, "\n".join(wrong)
