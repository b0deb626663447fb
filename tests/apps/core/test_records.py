"""`apps.core.records`: `kapps <app> prepare-data` writes an app's raw examples as TFRecord shards
with a manifest, and `--data records:DIR` reads the same examples back, or stops with one line."""

import hashlib
import json

import numpy as np
import pytest
import tensorflow as tf

from apps import catalog, cli
from apps.core.config import ConfigError
from apps.core.data import DataSource, DataSourceError
from apps.core.records import (
    MANIFEST,
    RecordsError,
    read_records,
    records_dataset,
    serialize_example,
    verify_records,
    write_records,
)
from apps.core.registry import AppRegistry
from tests.apps.core.streaming_app import CLASS_NAMES, StreamingApp, write_png_folder

SHARD_MB = 0.001  # ~1 KB: each split of the stand-in data spans several shards


@pytest.fixture(scope="module")
def pngs(tmp_path_factory):
    return write_png_folder(tmp_path_factory.mktemp("pngs"))


@pytest.fixture(scope="module")
def app_and_config(pngs):
    app = StreamingApp()
    return app, app.default_config().replace(data=f"files:{pngs}")


@pytest.fixture(scope="module")
def records(app_and_config, tmp_path_factory):
    app, config = app_and_config
    folder = tmp_path_factory.mktemp("records") / "stand-in"
    write_records(app, app.raw_splits(DataSource.parse(config.data), config), folder, SHARD_MB, log=lambda line: None)
    return folder


def _examples(dataset):
    return sorted((example["name"], int(example["label"]), example["image"]) for example in dataset.as_numpy_iterator())


def test_records_hold_the_same_examples_counts_and_checksums(app_and_config, records):
    app, config = app_and_config
    raw = app.raw_splits(DataSource.parse(config.data), config)
    manifest = json.loads((records / MANIFEST).read_text())
    read = read_records(records, app)
    assert read.counts == raw.counts == manifest["counts"] == {"train": 27, "validation": 9, "test": 9}
    assert read.class_names == CLASS_NAMES and read.details == raw.details
    for split in ("train", "validation", "test"):
        assert _examples(read.splits[split]) == _examples(raw.splits[split])
        shards = manifest["shards"][split]
        assert len(shards) > 1 and sum(shard["examples"] for shard in shards) == raw.counts[split]
        for shard in shards:
            content = (records / shard["file"]).read_bytes()
            assert len(content) == shard["bytes"] and hashlib.sha256(content).hexdigest() == shard["sha256"]
    assert verify_records(records, app) == sum(len(shards) for shards in manifest["shards"].values())


def test_records_source_trains_like_the_files_and_shards_training_by_file(app_and_config, records):
    app, config = app_and_config
    data = app.load_data(config.replace(data=f"records:{records}"))
    files = app.load_data(config)
    assert (data.train_examples, data.validation_examples, data.test_examples) == (27, 9, 9)
    assert data.source.startswith(f"records:{records}")
    labels = sorted(int(label.argmax()) for _, batch in data.train.as_numpy_iterator() for label in batch)
    assert labels == sorted(int(label.argmax()) for _, batch in files.train.as_numpy_iterator() for label in batch)
    policy = tf.data.experimental.AutoShardPolicy
    assert data.train.options().experimental_distribute.auto_shard_policy == policy.FILE
    assert data.validation.options().experimental_distribute.auto_shard_policy == policy.DATA


def test_multi_worker_training_needs_a_shard_file_per_worker_and_says_it_shards_by_file(
    app_and_config, records, monkeypatch
):
    app, config = app_and_config
    config = config.replace(distribute="multi-worker")
    files = len(json.loads((records / MANIFEST).read_text())["shards"]["train"])
    lines = []
    for workers, fits in ((files, True), (files + 1, False)):
        cluster = {"worker": [f"host{index}:2222" for index in range(workers)]}
        monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
        if fits:
            read_records(records, app, config, log=lines.append)
        else:
            with pytest.raises(RecordsError, match=f"{files} shard file\\(s\\) for {files + 1} workers"):
                read_records(records, app, config, log=lines.append)
    assert lines == [
        f"Records: multi-worker training shards the training split by file ({files} shard files; "
        "each worker reads its own)."
    ]


def test_sharding_by_file_gives_each_worker_whole_shard_files(app_and_config, records):
    """What multi-worker training does to the training split (`auto_shard_dataset`, as
    `tf.distribute` calls it): two workers read disjoint sets of whole shard files, all of them."""
    from tensorflow.python.distribute.input_ops import auto_shard_dataset

    app, _ = app_and_config
    train = read_records(records, app).splits["train"]
    names = [
        [example["name"] for example in auto_shard_dataset(train, 2, worker).as_numpy_iterator()] for worker in range(2)
    ]
    assert sorted(names[0] + names[1]) == sorted(example["name"] for example in train.as_numpy_iterator())
    files = json.loads((records / MANIFEST).read_text())["shards"]["train"]
    per_file = [
        [record for record in tf.data.TFRecordDataset(str(records / shard["file"])).as_numpy_iterator()]
        for shard in files
    ]
    assert [len(worker_names) for worker_names in names] == [
        sum(len(records_) for records_ in per_file[worker::2]) for worker in range(2)
    ]


DETECTION_LIKE = {
    "image": (tf.string, ()),
    "boxes": (tf.float32, (None, 4)),
    "classes": (tf.int64, (None,)),
    "size": (tf.int64, (2,)),
    "crowd": (tf.bool, (None,)),
    "palette": (tf.uint8, (3,)),
}


def test_every_kind_of_feature_comes_back_with_its_dtype_and_shape(tmp_path):
    examples = [
        {
            "image": b"\xff\xd8jpeg",
            "boxes": np.array([[0.1, 0.2, 0.5, 0.6], [0, 0, 1, 1]], np.float32),
            "classes": np.array([3, 0]),
            "size": np.array([360, 480]),
            "crowd": np.array([False, True]),
            "palette": np.array([0, 128, 255], np.uint8),
        },
        {
            "image": b"",
            "boxes": np.zeros((0, 4), np.float32),
            "classes": np.zeros(0, np.int64),
            "size": np.array([1, 2]),
            "crowd": np.zeros(0, bool),
            "palette": np.array([1, 2, 3], np.uint8),
        },
    ]
    path = str(tmp_path / "shard.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for example in examples:
            writer.write(serialize_example(example, DETECTION_LIKE))
    read = list(records_dataset([path], DETECTION_LIKE))
    for example, back in zip(examples, read):
        for key, (dtype, _) in DETECTION_LIKE.items():
            assert back[key].dtype == dtype
            np.testing.assert_array_equal(back[key].numpy(), example[key])
    assert read[1]["boxes"].shape == (0, 4)


@pytest.fixture
def copied_records(records, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in records.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    return copy


def _first_shard(folder):
    return folder / json.loads((folder / MANIFEST).read_text())["shards"]["train"][0]["file"]


def test_missing_and_damaged_shards_are_clear_errors(app_and_config, copied_records):
    app, _ = app_and_config
    shard = _first_shard(copied_records)
    content = shard.read_bytes()
    shard.write_bytes(content[:-1])
    with pytest.raises(RecordsError, match=f"{shard} has {len(content) - 1} bytes, the manifest says {len(content)}"):
        read_records(copied_records, app)
    shard.write_bytes(content[:-1] + bytes([content[-1] ^ 1]))  # same size, one bit flipped
    read_records(copied_records, app)  # the size check at open passes ...
    with pytest.raises(RecordsError, match=f"{shard}: sha256 differs"):  # ... the checksum does not
        verify_records(copied_records, app)
    shard.unlink()
    with pytest.raises(RecordsError, match=f"records shard {shard} is missing"):
        read_records(copied_records, app)


def test_a_manifest_of_another_app_or_other_features_is_refused(app_and_config, copied_records):
    app, _ = app_and_config
    path = copied_records / MANIFEST
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "app": "detection"}))
    with pytest.raises(RecordsError, match="holds records of the 'detection' app, not 'stand-in'"):
        read_records(copied_records, app)
    features = {**manifest["record_features"], "label": {"dtype": "float32", "shape": []}}
    path.write_text(json.dumps({**manifest, "record_features": features}))
    with pytest.raises(RecordsError, match="prepare them again with `kapps stand-in prepare-data`"):
        read_records(copied_records, app)
    path.unlink()
    with pytest.raises(RecordsError, match=f"{copied_records} has no manifest.json"):
        read_records(copied_records, app)


def test_a_failed_write_leaves_no_folder_and_an_existing_one_is_kept(app_and_config, records, tmp_path):
    app, config = app_and_config
    raw = app.raw_splits(DataSource.parse(config.data), config)
    broken = raw.splits["test"].map(lambda example: {**example, "image": tf.io.read_file("/no/such/file.png")})
    output = tmp_path / "out"
    with pytest.raises(tf.errors.NotFoundError):
        write_records(app, type(raw)({**raw.splits, "test": broken}, raw.counts), output, log=lambda line: None)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FileExistsError, match="already exists"):
        write_records(app, raw, records)


def test_features_that_could_not_be_reshaped_on_reading_are_refused(tmp_path):
    class TwoLengths(StreamingApp):
        record_features = {**StreamingApp.record_features, "mask": (tf.uint8, (None, None))}

    with pytest.raises(RecordsError, match="'mask' has shape \\(None, None\\): records keep at most one"):
        write_records(TwoLengths(), None, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_records_kind_needs_a_folder_and_apps_that_load_whole_refuse_it(tmp_path):
    with pytest.raises(DataSourceError, match="records: needs the folder"):
        DataSource.parse("records:")
    from apps.digits.app import DigitsApp

    app = DigitsApp()
    with pytest.raises(ConfigError, match="the digits app loads its data whole and reads no records"):
        app.load_data(app.tiny_config().replace(data=f"records:{tmp_path}"))


@pytest.fixture
def registry_with_stand_in(monkeypatch):
    registry = AppRegistry()
    for entry in catalog.APP_ENTRIES:
        registry.add(entry)
    registry.register(StreamingApp)
    monkeypatch.setattr(catalog, "load_apps", lambda: registry)


def test_prepare_data_command_writes_verifies_and_refuses(pngs, tmp_path, capsys, registry_with_stand_in):
    output = tmp_path / "records"
    assert (
        cli.main(
            ["stand-in", "prepare-data", "--data", f"files:{pngs}", "--output", str(output), "--shard-mb", "0.004"]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "train: 27 examples in" in printed and f"and manifest.json to {output}" in printed
    assert cli.main(["stand-in", "prepare-data", "--verify", "--output", str(output)]) == 0
    assert "shard(s) match their sha256" in capsys.readouterr().out
    assert json.loads((output / MANIFEST).read_text())["config"]["data"] == f"files:{pngs}"
    with pytest.raises(SystemExit, match="^kapps digits prepare-data: the digits app loads its data whole"):
        cli.main(["digits", "prepare-data", "--data", "builtin", "--output", str(tmp_path / "digits")])
