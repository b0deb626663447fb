"""The app registry: the CLI, tuner, benchmarks, notebooks and server look apps up here.

An app is registered by an `AppEntry`: its name, title, objective and the import
paths of its App and config classes. The entry is light (no TensorFlow), so
`kapps list` and `kapps <app> --help` answer without importing the app; the App
class is imported on first use and checked against its entry.
"""

import dataclasses
import importlib


def import_path(path):
    """The object named by `"package.module:Name"`."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclasses.dataclass(frozen=True)
class AppEntry:
    """What the registry knows of an app before importing it.

    Attributes:
        name: the app's name on the command line (`kapps <name> ...`).
        app_class_path: `"module:Class"` of its `App` subclass.
        config_class_path: `"module:Class"` of its typed config (a light module).
        title: one line for `kapps list`.
        objective: the metric that picks checkpoints and the tuner's default objective.
    """

    name: str
    app_class_path: str
    config_class_path: str
    title: str = ""
    objective: str = "val_loss"

    @property
    def config_class(self):
        return import_path(self.config_class_path)

    def app_class(self):
        app_class = import_path(self.app_class_path)
        mismatches = [
            f"{attribute} {getattr(app_class, attribute)!r} != {expected!r}"
            for attribute, expected in (("name", self.name), ("title", self.title),
                                        ("objective", self.objective),
                                        ("config_class", self.config_class))
            if getattr(app_class, attribute, None) != expected
        ]
        if mismatches:
            raise ValueError(f"The registry entry of {self.name!r} disagrees with {self.app_class_path}: "
                             + "; ".join(mismatches))
        return app_class


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
        """The light `AppEntry` (or the registered class) of `name`."""
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

