"""Test setup: the backend comes from KERAS_BACKEND (default TensorFlow), logs stay quiet."""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402

from apps.core.backend import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()  # every backend's tests use tf.data; TensorFlow's start-up lines hidden

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
