"""Test setup: the backend comes from KERAS_BACKEND (default TensorFlow), logs stay quiet."""

import atexit
import os
import shutil
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

from apps.core.backend import import_tensorflow_quietly  # noqa: E402
from apps.core.distribute import prepare_host_devices, split_cpu  # noqa: E402


def share_jax_compilations():
    """One JAX compilation cache for the whole run, shared by every xdist worker: tests
    build the same tiny models again and again (each reload, each fixture), and each
    program is then compiled once. The first process to load this file (the xdist
    controller) makes the folder, workers inherit it, and it goes when the run ends."""
    if "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    folder = tempfile.mkdtemp(prefix="kapps-test-jax-cache-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ.update(
        JAX_COMPILATION_CACHE_DIR=folder,
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
    )


# Two devices for the distributed-training tests: host devices on JAX (before it loads),
# logical CPU devices on TensorFlow (before it runs an op). Single-device code uses the first.
TEST_REPLICAS = 2
prepare_host_devices(os.environ["KERAS_BACKEND"], "data-parallel", TEST_REPLICAS)
# Tests compile hundreds of small XLA programs once each (every initializer shape, every
# tiny model's step) and run them for a few steps: unoptimised code generation halves
# JAX's compile time and costs little at this size.
if os.environ["KERAS_BACKEND"] == "jax" and "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()
if os.environ["KERAS_BACKEND"] == "jax":
    share_jax_compilations()


def private_kapps_cache():
    """The run's own kapps cache folder (DCGAN's FID classifiers), shared by the xdist workers and
    removed at the end: tests neither read nor fill the user's `~/.cache/kapps`."""
    if "KAPPS_CACHE_DIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="kapps-test-cache-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        os.environ["KAPPS_CACHE_DIR"] = folder


private_kapps_cache()


def start_tensorflow():
    """TensorFlow (every backend's tests use tf.data) with its start-up lines hidden and two
    logical CPU devices."""
    import_tensorflow_quietly()
    split_cpu(TEST_REPLICAS)


def looks_like_xdist_controller():
    """The pytest-xdist controller hands tests to its workers and runs none: it need not spend
    seconds starting TensorFlow before they start."""
    return not os.environ.get("PYTEST_XDIST_WORKER") and any(
        argument.startswith(("-n", "--numprocesses")) for argument in sys.argv[1:]
    )


# Here, before the conftest files of the folders named on the command line load (they import
# the apps, hence TensorFlow, which would print its start-up lines).
if not looks_like_xdist_controller():
    start_tensorflow()


def pytest_configure(config):
    if looks_like_xdist_controller() and not config.getoption("numprocesses", None):
        start_tensorflow()  # `-n 0`: this process runs the tests after all


REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATASETS = os.path.join(os.path.dirname(REPO_ROOT), "shared", "datasets")


@pytest.fixture
def shared_dataset():
    """Path of a dataset in ../shared/datasets; skips when it is not beside the repo."""

    def locate(name):
        path = os.path.join(SHARED_DATASETS, name)
        if not os.path.exists(path):
            pytest.skip(f"{path} is not available")
        return path

    return locate


# Tests of a minute or so (whole apps trained, processes started and killed): they start
# first, so that the short ones, not one of these, are what is left at the end of a run
# while the other workers sit idle.
LONG_TEST_MODULES = (
    "tests/apps/test_every_app.py",
    "tests/tuner/test_distributed.py",
    "tests/tuner/test_resume_after_kill.py",
    "tests/apps/core/test_multi_worker.py",
    "tests/test_cli.py",
)


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.nodeid.split("::")[0] not in LONG_TEST_MODULES)
