"""Every streaming app (one with `record_features`) round-trips its tiny builtin data through
`prepare-data` records: the same raw examples come back, and training pipelines built from the
records yield what the ones built from the source yield."""

import numpy as np
import pytest
import tensorflow as tf

from apps.catalog import load_apps
from apps.core.data import DataSource
from apps.core.records import prepare_data, read_records

REGISTRY = load_apps()
STREAMING = [name for name in REGISTRY.names() if REGISTRY.get(name).record_features]


def _examples(dataset):
    """The examples of a raw split, each as a sorted tuple of its features' bytes (order-free)."""
    rows = []
    for example in dataset.as_numpy_iterator():
        rows.append(
            tuple((key, np.asarray(value).tobytes(), np.asarray(value).shape) for key, value in sorted(example.items()))
        )
    return sorted(rows)


def test_the_image_apps_stream():
    assert set(STREAMING) >= {"detection", "segmentation", "dcgan"}


@pytest.mark.parametrize("name", STREAMING)
def test_records_hold_the_source_examples_and_train_the_same_pipelines(name, tmp_path):
    app = REGISTRY.get(name)
    config = app.tiny_config()
    raw = app.raw_splits(DataSource.parse(config.data), config)
    prepare_data(app, config, tmp_path / "records", log=lambda line: None)
    back = read_records(tmp_path / "records", app, log=lambda line: None)
    assert back.counts == raw.counts and back.class_names == tuple(raw.class_names)
    for split, dataset in raw.splits.items():
        assert _examples(back.splits[split]) == _examples(dataset), f"{name} {split}"

    direct = app.load_data(config)
    from_records = app.load_data(config.replace(data=f"records:{tmp_path / 'records'}"))
    assert from_records.train_examples == direct.train_examples
    assert from_records.test_examples == direct.test_examples
    assert tf.nest.map_structure(lambda spec: spec.dtype, from_records.train.element_spec) == tf.nest.map_structure(
        lambda spec: spec.dtype, direct.train.element_spec
    )
    assert sum(1 for _ in from_records.train) == sum(1 for _ in direct.train)
