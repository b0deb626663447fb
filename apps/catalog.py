"""The list of apps in the suite. Importing an app's package registers it."""

import importlib

APP_MODULES = (
    "apps.digits",
    "apps.churn",
    "apps.sentiment",
)


def load_apps():
    """Imports every app (after the backend is chosen) and returns the registry."""
    for module in APP_MODULES:
        importlib.import_module(module)
    from apps.core.registry import REGISTRY

    return REGISTRY
