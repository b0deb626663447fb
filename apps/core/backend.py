"""Choosing the Keras backend, which must happen before Keras is imported, and importing
TensorFlow without its log lines."""

import logging
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
    r"^(WARNING: All log messages before absl::InitializeLog\(\)|[IW]\d{4} |E\d{4} .*failed call to cuInit)"
)
# The level we set (not the user's), so that child processes hide the lines too.
_QUIET_MARKER = "KAPPS_QUIET_TF_STARTUP"
# `KAPPS_VERBOSE_TF=1` shows every line TensorFlow logs.
VERBOSE_TF_VARIABLE = "KAPPS_VERBOSE_TF"
# Level 3 hides the ERROR lines too, such as a kernel falling back to another ("oneDNN supports
# DT_UINT8 only on platforms with AVX-512"); an op that fails raises in Python all the same.
_QUIET_LEVEL = "3"


def _tensorflow_logs_wanted():
    return os.environ.get(VERBOSE_TF_VARIABLE, "") not in ("", "0")


def _user_set_cpp_level():
    level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
    return level is not None and level != os.environ.get(_QUIET_MARKER)


def import_tensorflow_quietly():
    """Imports TensorFlow without its log lines: the C++ start-up and runtime lines (unless
    the user set `TF_CPP_MIN_LOG_LEVEL`: their level applies), INFO and retracing lines of
    its Python logger (`quiet_python_logs`). `KAPPS_VERBOSE_TF=1` shows them all.

    TensorFlow writes its start-up lines from C++ before its log level is read, so the only
    way to hide them is to capture the process's stderr while it loads; what else it prints
    then is shown.
    """
    if _tensorflow_logs_wanted():
        import tensorflow  # noqa: F401

        return
    if "tensorflow" not in sys.modules and not _user_set_cpp_level():
        _import_with_startup_lines_hidden()
    quiet_python_logs()


def _import_with_startup_lines_hidden():
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = os.environ[_QUIET_MARKER] = _QUIET_LEVEL
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
        kept = [
            line
            for line in captured.read().decode("utf-8", "replace").splitlines()
            if line.strip() and not _STARTUP_NOISE.match(line)
        ]
    if kept:
        print("\n".join(kept), file=sys.stderr)


def _not_a_retracing_warning(record):
    return "triggered tf.function retracing" not in record.getMessage()


def quiet_python_logs():
    """TensorFlow's Python logger shows warnings, as in a script (in a notebook it would also
    show INFO lines: "Assets written to..."), but not its "N out of the last M calls to
    <function> triggered tf.function retracing": Keras traces its train and predict step
    functions once per model, and TensorFlow counts the traces of one function's code across
    models (churn's ensemble members, the tuner's trials, a notebook's models): expected here."""
    import tensorflow as tf

    logger = tf.get_logger()  # first, since its first call sets the level in a notebook
    logger.setLevel(logging.WARNING)
    logger.addFilter(_not_a_retracing_warning)
