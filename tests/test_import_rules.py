"""Imports run one way, read from the source (`ast`; function-level imports count as much as
module-level ones):

    kapps/                  the `kapps` command: dispatches to the floors below
    tuner/                  searches over an app's config
    apps/                   the six apps and their workflow
    serving/, layers/       know nothing of the floors above

and no module of the repo imports, directly or through others, a module that imports it back.
"""

import ast
from pathlib import Path

import networkx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("kapps", "tuner", "apps", "serving", "layers")
FORBIDDEN = {
    "layers": ("apps", "tuner", "kapps"),
    "serving": ("apps", "tuner", "kapps"),
    "apps": ("tuner", "kapps"),
    "tuner": ("kapps",),
}


def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def repo_modules():
    """`{module name: path}` of every module of the repo's packages."""
    return {_module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def _imported_names(module, path):
    """`(dotted name, line)` of each import in the module, relative imports made absolute; a
    `from x import y` yields `x.y` (a module, or a name whose module is `x`)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            yield from ((f"{base}.{alias.name}", node.lineno) for alias in node.names)


def _repo_module(name, modules):
    """The repo module that importing `name` runs (its longest known prefix), or None."""
    parts = name.split(".")
    return next(
        (".".join(parts[:size]) for size in range(len(parts), 0, -1) if ".".join(parts[:size]) in modules), None
    )


def import_graph():
    """The directed graph `importer -> imported` of the repo's modules, each edge with the
    line of its first import."""
    modules = repo_modules()
    graph = networkx.DiGraph()
    graph.add_nodes_from((module, {"path": str(path.relative_to(ROOT))}) for module, path in modules.items())
    for module, path in modules.items():
        for name, line in _imported_names(module, path):
            target = _repo_module(name, modules)
            if target is not None and target != module and not graph.has_edge(module, target):
                graph.add_edge(module, target, line=line)
    return graph


def wrong_way_imports(graph):
    return [
        f"{graph.nodes[importer].get('path', importer)}:{line} imports {imported}"
        for importer, imported, line in graph.edges(data="line")
        if imported.split(".")[0] in FORBIDDEN.get(importer.split(".")[0], ())
    ]


def import_cycles(graph):
    """One cycle (`a -> b -> a`) through each group of modules that import each other."""
    cycles = []
    for group in networkx.strongly_connected_components(graph):
        if len(group) > 1:
            cycle = networkx.find_cycle(graph.subgraph(group))
            cycles.append(" -> ".join([edge[0] for edge in cycle] + [cycle[0][0]]))
    return sorted(cycles)


@pytest.fixture(scope="module")
def graph():
    return import_graph()


def test_lower_floors_do_not_import_the_ones_above(graph):
    wrong = wrong_way_imports(graph)
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles(graph):
    cycles = import_cycles(graph)
    assert not cycles, "Modules that import each other:\n" + "\n".join(cycles)


def test_the_rules_catch_a_wrong_way_import_and_a_cycle():
    graph = networkx.DiGraph()
    graph.add_edge("serving.rest", "apps.core.app", line=3)
    graph.add_edge("apps.core.app", "apps.core.config", line=5)
    graph.add_edge("apps.core.config", "apps.core.app", line=9)
    graph.add_edge("kapps.cli", "tuner.cli", line=1)
    assert wrong_way_imports(graph) == ["serving.rest:3 imports apps.core.app"]
    assert import_cycles(graph) in (
        ["apps.core.app -> apps.core.config -> apps.core.app"],
        ["apps.core.config -> apps.core.app -> apps.core.config"],
    )


def test_relative_and_from_imports_resolve_to_repo_modules(tmp_path):
    modules = {"serving": None, "serving.rest": None, "serving.errors": None}
    assert _repo_module("serving.errors.ServingError", modules) == "serving.errors"
    assert _repo_module("serving.rest", modules) == "serving.rest"
    assert _repo_module("grpc.StatusCode", modules) is None
    path = tmp_path / "rest.py"
    path.write_text("from .errors import ServingError\nfrom . import errors\ndef f():\n    import serving.rest\n")
    assert sorted(_imported_names("serving.rest", path)) == [
        ("serving.errors", 2),
        ("serving.errors.ServingError", 1),
        ("serving.rest", 4),
    ]
