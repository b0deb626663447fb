import time

import numpy as np
import pytest
import tensorflow as tf

from apps.core import data as core_data
from apps.core.data import DataSource, DataSourceError, batched_pipeline


@pytest.mark.parametrize(
    "text, expected",
    [
        ("tfds", DataSource("tfds", "")),
        ("tfds:mnist", DataSource("tfds", "mnist")),
        ("files:/a/b:c", DataSource("files", "/a/b:c")),
        ("builtin", DataSource("builtin", "")),
    ],
)
def test_parse_sources(text, expected):
    assert DataSource.parse(text) == expected


@pytest.mark.parametrize("text", ["http://x", "files", "files:", "builtin:x", ""])
def test_bad_sources_say_what_is_accepted(text):
    with pytest.raises(DataSourceError):
        DataSource.parse(text)


def test_tfds_offline_fails_fast_naming_the_other_sources(monkeypatch, tmp_path):
    monkeypatch.setattr(core_data, "network_reachable", lambda *a, **k: False)
    started = time.time()
    with pytest.raises(DataSourceError) as error:
        core_data.load_tfds("mnist", "train", data_dir=str(tmp_path))
    assert time.time() - started < 15
    assert "files:PATH" in str(error.value) and "builtin" in str(error.value)


def test_network_probe_gives_up_within_its_timeout():
    started = time.time()
    # 192.0.2.0/24 is TEST-NET-1 (never routed); nothing is sent anywhere real.
    assert core_data.network_reachable(("192.0.2.1", 9), seconds=1) is False
    assert time.time() - started < 5


def test_batched_pipeline_shapes_and_training_only_augmentation():
    dataset = tf.data.Dataset.from_tensor_slices((np.arange(10, dtype=np.float32), np.arange(10)))
    calls = []

    def augment(x, y):
        calls.append(1)
        return x + 100.0, y

    train = batched_pipeline(dataset, 4, training=True, seed=0, augment=augment)
    evaluation = batched_pipeline(dataset, 4, training=False, augment=augment)
    train_values = np.concatenate([x for x, _ in train.as_numpy_iterator()])
    eval_values = np.concatenate([x for x, _ in evaluation.as_numpy_iterator()])
    assert sorted(train_values) == [v + 100.0 for v in range(10)]
    assert list(eval_values) == list(range(10))
    assert [len(x) for x, _ in evaluation.as_numpy_iterator()] == [4, 4, 2]
    # Autotuning off (`prefetched`), kept by the transformations an app adds after the pipeline.
    assert train.map(lambda x, y: (x, y)).options().autotune.enabled is False


@pytest.mark.parametrize("bytes_per_example, decodings", [(1024, 4), (core_data.DECODED_CACHE_BYTES // 3, 8)])
def test_a_split_is_cached_only_while_it_fits_the_fixed_budget(bytes_per_example, decodings):
    """4 examples: decoded once over two epochs while they fit `DECODED_CACHE_BYTES`, each epoch when not."""
    decoded = []

    def decode(value):
        decoded.append(value)
        return value

    examples = tf.data.Dataset.range(4).map(lambda value: tf.py_function(decode, [value], tf.int64))
    dataset = core_data.cached_if_small(examples, 4, bytes_per_example)
    for _ in range(2):
        assert sorted(dataset.as_numpy_iterator()) == [0, 1, 2, 3]
    assert len(decoded) == decodings
