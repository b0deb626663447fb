"""Test setup: the backend comes from KERAS_BACKEND (default TensorFlow), logs stay quiet."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

from apps.core.backend import import_tensorflow_quietly  # noqa: E402
from apps.core.distribute import prepare_host_devices, split_cpu  # noqa: E402

# Two devices for the distributed-training tests: host devices on JAX (before it loads),
# logical CPU devices on TensorFlow (before it runs an op). Single-device code uses the first.
TEST_REPLICAS = 2
prepare_host_devices(os.environ["KERAS_BACKEND"], "data-parallel", TEST_REPLICAS)
# Tests compile hundreds of small XLA programs once each (every initializer shape, every
# tiny model's step) and run them for a few steps: unoptimised code generation halves
# JAX's compile time and costs little at this size.
if os.environ["KERAS_BACKEND"] == "jax" and "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} --xla_backend_optimization_level=0".strip()
import_tensorflow_quietly()  # every backend's tests use tf.data; TensorFlow's start-up lines hidden
split_cpu(TEST_REPLICAS)

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
