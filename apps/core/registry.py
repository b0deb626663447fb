"""The app registry: the CLI, tuner, benchmarks, notebooks and server look apps up here.

An app of the catalog is registered by an `AppEntry`, the import path of its App class.
The entry reads the class's name, title, objective and config class from the class's own source
(`declared_attributes`) without importing it, so `kapps list` and `kapps <app> --help`
answer without TensorFlow, and the entry cannot disagree with the class: it holds nothing else.
"""

import ast
import dataclasses
import functools
import importlib
import importlib.util
from pathlib import Path

# What the registry needs of an App class before importing it: literals, or names the class's
# module imports from light modules (`config_class = DigitsConfig`).
DECLARED = ("name", "title", "objective", "config_class")


def import_path(path):
    """The object named by `"package.module:Name"`."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def declared_attributes(class_path):
    """`{attribute: value}` of the `DECLARED` class attributes assigned in the body of the class
    `"package.module:Name"`, read from its source: a literal, or a name the module imports
    (`from module import Name`), imported from there. The class's module is not imported."""
    module, _, class_name = class_path.partition(":")
    source = Path(importlib.util.find_spec(module).origin).read_text(encoding="utf-8")
    tree = ast.parse(source)
    imported = {
        alias.asname or alias.name: f"{node.module}:{alias.name}"
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and not node.level
        for alias in node.names
    }
    body = next((node.body for node in tree.body if isinstance(node, ast.ClassDef) and node.name == class_name), None)
    if body is None:
        raise ValueError(f"{class_path}: no class {class_name!r} in {module}.")
    values = {}
    for statement in body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
            and statement.targets[0].id in DECLARED
        ):
            value = statement.value
            if isinstance(value, ast.Constant):
                values[statement.targets[0].id] = value.value
            elif isinstance(value, ast.Name) and value.id in imported:
                values[statement.targets[0].id] = import_path(imported[value.id])
    missing = [name for name in DECLARED if name not in values]
    if missing:
        raise ValueError(
            f"{class_path} must assign {', '.join(missing)} in its class body: a literal, or a name "
            "imported with `from module import Name`."
        )
    return values


@dataclasses.dataclass(frozen=True)
class AppEntry:
    """An app of the catalog before it is imported.

    Attributes:
        app_class_path: `"module:Class"` of its `App` subclass; its `name` (the app's name on the
            command line), `title` (one line for `kapps list`) and `config_class` (a light
            module) and `objective` (the tuner's default) are read from that class's source.
    """

    app_class_path: str

    @functools.cached_property
    def _declared(self):
        return declared_attributes(self.app_class_path)

    @property
    def name(self):
        return self._declared["name"]

    @property
    def title(self):
        return self._declared["title"]

    @property
    def objective(self):
        return self._declared["objective"]

    @property
    def config_class(self):
        return self._declared["config_class"]

    def app_class(self):
        return import_path(self.app_class_path)


class AppRegistry:
    """Maps app names to apps, refusing duplicates."""

    def __init__(self):
        self._entries = {}
        self._classes = {}

    def _check_new(self, name, where):
        if not name:
            raise ValueError(f"{where} has no `name`; set a class attribute `name = '...'`.")
        if name in self._entries or name in self._classes:
            raise ValueError(f"An app named {name!r} is already registered; app names must be unique.")

    def add(self, entry):
        """Registers an `AppEntry` (imported on first use)."""
        self._check_new(entry.name, entry)
        self._entries[entry.name] = entry
        return entry

    def register(self, app_class):
        """Registers an App class directly (apps outside the catalog, tests)."""
        self._check_new(getattr(app_class, "name", None), app_class)
        self._classes[app_class.name] = app_class
        return app_class

    def entry(self, name):
        """The light `AppEntry` (or the registered class) of `name`: its `title` and `config_class`."""
        if name in self._entries:
            return self._entries[name]
        if name in self._classes:
            return self._classes[name]
        known = ", ".join(self.names()) or "none"
        raise KeyError(f"No app named {name!r}. Registered apps: {known}.")

    def get(self, name):
        """Returns a new instance of the app called `name`."""
        entry = self.entry(name)
        if isinstance(entry, AppEntry):
            if name not in self._classes:
                self._classes[name] = entry.app_class()
            return self._classes[name]()
        return entry()

    def names(self):
        return sorted(set(self._entries) | set(self._classes))

    def __contains__(self, name):
        return name in self._entries or name in self._classes

    def __len__(self):
        return len(self.names())


REGISTRY = AppRegistry()
