"""Sharded TFRecords of an app's raw examples: `kapps <app> prepare-data` and `--data records:DIR`.

A records folder holds, per split, TFRecord shards of `tf.train.Example`s (about `--shard-mb`
each) and a `manifest.json`: the format version, the app, the counts per split, the class names,
the source, the loader's `details`, the app's `record_features`, and for every shard its file,
examples, bytes and sha256. The encoding is generic, from `App.record_features`: strings (encoded
images, masks) → BytesList, floats → FloatList and integers → Int64List, flattened; reading
reshapes each feature to its declared shape.

Checks: reading compares the manifest with the app (its name and features) and every shard's
size with the manifest, at open; each record's own CRC is checked by `TFRecordDataset` as it is
read; the sha256 of every shard is checked by `kapps <app> prepare-data --verify --output DIR`
(it reads every byte, so it is not done on each training).
"""

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.core.data import AUTOTUNE, DataSourceError, RawSplits

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DEFAULT_SHARD_MB = 128
SPLITS = ("train", "validation", "test")
# Shard files read at once per split: enough to hide one file's latency, few enough to bound buffers.
READ_CYCLE = 8


class RecordsError(DataSourceError):
    """A records folder that cannot be read as the app's examples; the message says why."""


def features_description(record_features):
    """`record_features` as JSON: `{key: {"dtype": "float32", "shape": [None, 4]}}`."""
    return {
        key: {"dtype": tf.as_dtype(dtype).name, "shape": list(shape)}
        for key, (dtype, shape) in sorted(record_features.items())
    }


def _kind(dtype):
    dtype = tf.as_dtype(dtype)
    if dtype == tf.string:
        return "bytes"
    return "float" if dtype.is_floating else "int"


def _feature(value, dtype):
    values = np.asarray(value).ravel()
    kind = _kind(dtype)
    if kind == "bytes":
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values.tolist()))
    if kind == "float":
        return tf.train.Feature(float_list=tf.train.FloatList(value=values.astype(np.float32)))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values.astype(np.int64)))


def serialize_example(example, record_features):
    """One raw example (a dict of NumPy values) as a serialized `tf.train.Example`."""
    features = {key: _feature(example[key], dtype) for key, (dtype, _) in record_features.items()}
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString()


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(2**20), b""):
            digest.update(block)
    return digest.hexdigest()


class _ShardWriter:
    """Writes one split's examples into `<split>-NNNNN.tfrecord` files of about `shard_bytes`."""

    def __init__(self, folder, split, shard_bytes):
        self.folder, self.split, self.shard_bytes = folder, split, shard_bytes
        self.shards = []
        self._writer = None

    def write(self, record):
        if self._writer is None:
            self._open()
        self._writer.write(record)
        self._current["examples"] += 1
        self._current["bytes"] += len(record) + 16  # TFRecord framing: length, two CRCs
        if self._current["bytes"] >= self.shard_bytes:
            self._close()

    def _open(self):
        name = f"{self.split}-{len(self.shards):05d}.tfrecord"
        self._current = {"file": name, "examples": 0, "bytes": 0}
        self._writer = tf.io.TFRecordWriter(str(self.folder / name))

    def _close(self):
        self._writer.close()
        self._writer = None
        path = self.folder / self._current["file"]
        self._current.update(bytes=path.stat().st_size, sha256=_sha256(path))
        self.shards.append(self._current)

    def finish(self):
        if self._writer is not None:
            self._close()
        return self.shards


def write_records(app, raw, output, shard_mb=DEFAULT_SHARD_MB, log=print, config=None):
    """Writes `raw` (the app's `RawSplits`) to a new records folder `output`; returns its manifest
    (which keeps `config`, the settings that chose the examples, when given).

    The folder is written under a temporary name beside `output` and renamed when complete, so
    a run killed part-way leaves no folder at `output` (only a `.<name>.partial-*` to delete).
    """
    if not app.record_features:
        raise RecordsError(f"the {app.name} app loads its data whole; it has no raw examples to write as records.")
    if shard_mb <= 0:
        raise RecordsError(f"--shard-mb must be positive, got {shard_mb}.")
    for key, (_, shape) in app.record_features.items():
        if list(shape).count(None) > 1:  # a flattened value could not be reshaped on reading
            raise RecordsError(
                f"the {app.name} app's record feature {key!r} has shape {shape}: records keep at "
                "most one per-example length (None) per feature."
            )
    output = Path(output)
    if output.exists():
        raise FileExistsError(f"{output} already exists: name a new folder (records are never overwritten).")
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(dir=output.parent, prefix=f".{output.name}.partial-"))
    try:
        shards = {
            split: _write_split(app, dataset, partial, split, int(shard_mb * 2**20), log)
            for split, dataset in raw.splits.items()
            if dataset is not None
        }
        manifest = _manifest(app, raw, shards, config)
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        os.rename(partial, output)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return manifest


def _write_split(app, dataset, folder, split, shard_bytes, log):
    if split not in SPLITS:
        raise RecordsError(f"unknown split {split!r}: records hold {', '.join(SPLITS)}.")
    writer = _ShardWriter(folder, split, shard_bytes)
    for example in dataset.prefetch(AUTOTUNE).as_numpy_iterator():
        writer.write(serialize_example(example, app.record_features))
    shards = writer.finish()
    log(f"{split}: {sum(shard['examples'] for shard in shards)} examples in {len(shards)} shard(s)")
    return shards


def _manifest(app, raw, shards, config):
    counts = {split: sum(shard["examples"] for shard in split_shards) for split, split_shards in shards.items()}
    return {
        "format_version": FORMAT_VERSION,
        "app": app.name,
        "counts": counts,
        "class_names": list(raw.class_names),
        "source": raw.source,
        "details": raw.details,
        "record_features": features_description(app.record_features),
        "config": config.to_dict() if config is not None else None,
        "shards": shards,
    }


def load_manifest(directory, app):
    """The manifest of the records folder `directory`, checked against `app`."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise RecordsError(
            f"{directory} has no {MANIFEST}: not a records folder "
            f"(write one with `kapps {app.name} prepare-data --output DIR`)."
        )
    try:
        manifest = json.loads(path.read_text())
    except ValueError as error:
        raise RecordsError(f"{path} is not valid JSON ({error}).") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise RecordsError(
            f"{path}: records format version {manifest.get('format_version')!r}, this kapps "
            f"reads version {FORMAT_VERSION}; prepare the records again."
        )
    if manifest.get("app") != app.name:
        raise RecordsError(f"{directory} holds records of the {manifest.get('app')!r} app, not {app.name!r}.")
    if manifest.get("record_features") != features_description(app.record_features):
        raise RecordsError(
            f"{directory}: the records' features {manifest.get('record_features')} differ from the "
            f"{app.name} app's {features_description(app.record_features)}; prepare them again "
            f"with `kapps {app.name} prepare-data`."
        )
    return manifest


def _shard_paths(directory, manifest, split):
    paths = []
    for shard in manifest["shards"][split]:
        path = Path(directory) / shard["file"]
        if not path.is_file():
            raise RecordsError(f"records shard {path} is missing (the manifest lists it).")
        if path.stat().st_size != shard["bytes"]:
            raise RecordsError(
                f"records shard {path} has {path.stat().st_size} bytes, the manifest says "
                f"{shard['bytes']}: the file is damaged or was replaced; prepare the records again."
            )
        paths.append(str(path))
    return paths


def verify_records(directory, app):
    """Checks every shard's sha256 against the manifest; returns the number of shards checked."""
    manifest = load_manifest(directory, app)
    checked = 0
    for split in manifest["shards"]:
        for shard, path in zip(manifest["shards"][split], _shard_paths(directory, manifest, split)):
            if _sha256(path) != shard["sha256"]:
                raise RecordsError(f"records shard {path}: sha256 differs from the manifest's; the file is damaged.")
            checked += 1
    return checked


def _parser(record_features):
    specs = {}
    for key, (dtype, shape) in record_features.items():
        stored = {"bytes": tf.string, "float": tf.float32, "int": tf.int64}[_kind(dtype)]
        if None in shape:
            specs[key] = tf.io.VarLenFeature(stored)
        else:
            specs[key] = tf.io.FixedLenFeature([int(np.prod(shape, dtype=np.int64))], stored)

    def parse(serialized):
        parsed = tf.io.parse_single_example(serialized, specs)
        example = {}
        for key, (dtype, shape) in record_features.items():
            value = parsed[key]
            if isinstance(value, tf.SparseTensor):
                value = tf.sparse.to_dense(value)
            value = tf.reshape(value, [-1 if size is None else size for size in shape])
            example[key] = value if value.dtype == dtype else tf.cast(value, dtype)
        return example

    return parse


def records_dataset(paths, record_features, training=False):
    """The examples of the shard files `paths`, read interleaved and in parallel, parsed into
    dicts of the declared dtypes and shapes. The training split is sharded by file under
    multi-worker training (`AutoShardPolicy.FILE`: each worker reads its own shard files)."""
    files = tf.data.Dataset.from_tensor_slices(paths)
    dataset = files.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(paths), READ_CYCLE),
        num_parallel_calls=AUTOTUNE,
        deterministic=True,
    )
    dataset = dataset.map(_parser(record_features), num_parallel_calls=AUTOTUNE)
    options = tf.data.Options()
    policy = tf.data.experimental.AutoShardPolicy
    options.experimental_distribute.auto_shard_policy = policy.FILE if training else policy.DATA
    return dataset.with_options(options)


def read_records(directory, app, config=None, log=print):
    """The `RawSplits` of the records folder `directory`, written for `app` by `write_records`."""
    manifest = load_manifest(directory, app)
    splits = {}
    for split in manifest["shards"]:
        paths = _shard_paths(directory, manifest, split)
        if paths:
            splits[split] = records_dataset(paths, app.record_features, training=split == "train")
    if config is not None and config.distribute == "multi-worker":
        _check_files_per_worker(manifest)
        log(
            f"Records: multi-worker training shards the training split by file "
            f"({len(manifest['shards']['train'])} shard files; each worker reads its own)."
        )
    return RawSplits(
        splits=splits,
        counts={split: manifest["counts"][split] for split in splits},
        class_names=tuple(manifest["class_names"]),
        source=f"records:{directory} ({manifest['source']})",
        details=manifest["details"],
    )


def _check_files_per_worker(manifest):
    from apps.core.distribute import cluster_spec

    cluster = cluster_spec()["cluster"]
    workers = len(cluster["worker"]) + len(cluster.get("chief", []))
    files = len(manifest["shards"].get("train", []))
    if files < workers:
        raise RecordsError(
            f"the training split has {files} shard file(s) for {workers} workers: sharding by file "
            f"needs one file per worker at least; prepare the records with a smaller --shard-mb."
        )


def prepare_data(app, config, output, shard_mb=DEFAULT_SHARD_MB, log=print):
    """`kapps <app> prepare-data`: the app's raw examples of `config.data` written as records."""
    from apps.core.data import DataSource

    if not app.record_features:
        raise RecordsError(
            f"the {app.name} app loads its data whole; prepare-data is for the image apps that stream their examples."
        )
    source = DataSource.parse(config.data)
    if source.kind == "records":
        raise RecordsError(f"--data {config.data} already is a records folder.")
    manifest = write_records(app, app.raw_splits(source, config), output, shard_mb, log, config)
    total = sum(len(shards) for shards in manifest["shards"].values())
    log(f"Wrote {total} shard(s) and {MANIFEST} to {output}")
    return manifest
