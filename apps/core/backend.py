"""Choosing the Keras backend, which must happen before Keras is imported."""

import os
import sys

BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_BACKEND = "tensorflow"


def select_backend(name=None):
    """Sets `KERAS_BACKEND` (flag, else environment, else TensorFlow) and returns it.

    Raises if Keras was already imported with another backend, since Keras reads
    the variable once, at import time.
    """
    name = name or os.environ.get("KERAS_BACKEND") or DEFAULT_BACKEND
    if name not in BACKENDS:
        raise ValueError(f"Unknown backend {name!r}; choose one of {', '.join(BACKENDS)}.")
    if "keras" in sys.modules:
        import keras

        active = keras.backend.backend()
        if active != name:
            raise RuntimeError(
                f"Keras is already running on the {active!r} backend; start a new process "
                f"with --backend {name} (or KERAS_BACKEND={name})."
            )
    os.environ["KERAS_BACKEND"] = name
    return name


def active_backend():
    import keras

    return keras.backend.backend()
