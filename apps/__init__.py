"""The kapps application suite.

Importing this package is cheap and does not import Keras, so the CLI can choose
the Keras backend first. `apps.catalog.load_apps()` imports every app, which
registers itself in `apps.core.registry.REGISTRY`.
"""

__version__ = "0.1.0"
