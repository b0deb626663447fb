"""Choosing the Keras backend, which must happen before Keras is imported."""

import os
import re
import sys
import tempfile

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


# TensorFlow's native start-up lines: absl INFO/WARNING records written before logging
# is initialised ("oneDNN custom operations are on", "Could not find cuda drivers"...).
# "failed call to cuInit" is TensorFlow's own CUDA build finding no GPU driver.
_STARTUP_NOISE = re.compile(
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IW]\d{4} |E\d{4} .*failed call to cuInit)")
# The level we set (not the user's), so that child processes hide the lines too.
_QUIET_MARKER = "KAPPS_QUIET_TF_STARTUP"


def import_tensorflow_quietly():
    """Imports TensorFlow with its start-up log lines hidden, unless the user set
    `TF_CPP_MIN_LOG_LEVEL` (their choice wins). Errors it prints are still shown.

    TensorFlow writes those lines from C++ before its log level is read, so the only
    way to hide them is to capture the process's stderr while it loads.
    """
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    user_level = level is not None and level != os.environ.get(_QUIET_MARKER)
    if "tensorflow" in sys.modules or user_level:
        import tensorflow  # noqa: F401

        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = os.environ[_QUIET_MARKER] = "2"
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # TensorFlow's default, said explicitly
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow

            tensorflow.config.list_physical_devices()  # CUDA's start-up lines come here, not at import
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        kept = [line for line in captured.read().decode("utf-8", "replace").splitlines()
                if line.strip() and not _STARTUP_NOISE.match(line)]
    if kept:
        print("\n".join(kept), file=sys.stderr)
