"""Data sources (`tfds[:NAME]`, `files:PATH`, `builtin`, `records:DIR`) and the shared tf.data pipeline."""

import concurrent.futures
import dataclasses
import math
import socket

import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE
SOURCE_KINDS = ("tfds", "files", "builtin", "records")
TFDS_PROBE_HOST = ("storage.googleapis.com", 443)
TFDS_PROBE_SECONDS = 10


def prefetched(dataset):
    """`dataset.prefetch(AUTOTUNE)` with tf.data's autotuning off: every pipeline's last step.

    Why off: a tf.data iterator built with autotuning waits, when it is deleted, for the
    autotuning thread's next wake-up, which comes later the longer the iterator lived (up
    to a minute; TensorFlow 2.21). Keras deletes the previous epoch's iterator as the next
    epoch starts, and Python's garbage collector deletes the ones held in reference
    cycles, so each epoch and each collection stalled, idle, for seconds to minutes
    (`benchmarks/detection.py` on Penn-Fudan: 9.4 s epochs with it, 5.9 s without, the same
    losses). Without it, `AUTOTUNE` parallelism stays at its starting value (the smaller of
    16 and the number of cores: `AutotuneOptions.initial_parallelism`) and `AUTOTUNE`
    buffers at their starting sizes.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(AUTOTUNE).with_options(options)


class DataSourceError(RuntimeError):
    """The requested data cannot be had; the message says what to use instead."""


@dataclasses.dataclass(frozen=True)
class DataSource:
    """A parsed `--data` value."""

    kind: str
    argument: str = ""

    @classmethod
    def parse(cls, text):
        kind, _, argument = text.partition(":")
        if kind not in SOURCE_KINDS:
            raise DataSourceError(f"Unknown data source {text!r}. Use tfds[:NAME], files:PATH, builtin or records:DIR.")
        if kind == "files" and not argument:
            raise DataSourceError("files: needs a path, e.g. --data files:../shared/datasets/mnist")
        if kind == "records" and not argument:
            raise DataSourceError(
                "records: needs the folder that `kapps <app> prepare-data` wrote, e.g. --data records:coco-records"
            )
        if kind == "builtin" and argument:
            raise DataSourceError(f"builtin takes no argument, got {text!r}.")
        return cls(kind, argument)


@dataclasses.dataclass
class DataSplits:
    """What an app's data loader returns.

    Attributes:
        train: batched, shuffled, augmented training pipeline.
        validation: batched validation pipeline (or None).
        test: batched test pipeline (or None when the source has no test split).
        class_names: the names of the classes, in label order (empty for non-classifiers).
        train_examples: examples in the training split (after `max_examples`).
        validation_examples: examples in the validation split.
        test_examples: examples in the test split.
        source: where the data came from, in words (`files:...`, `builtin (...)`).
        info: what the app's own steps need beyond the pipelines, a dataclass of the app's data
            module (`DigitsInfo`, `ChurnInfo`, `SentimentInfo`, `DetectionInfo`: raw test examples for
            plots, fitted vectorizers and preprocessing...); None when it needs nothing. (DCGAN's
            is still a dict: its FID classifier's training split and cache.)
    """

    train: tf.data.Dataset
    validation: "tf.data.Dataset | None" = None
    test: "tf.data.Dataset | None" = None
    class_names: tuple = ()
    train_examples: int = 0
    validation_examples: int = 0
    test_examples: int = 0
    source: str = ""
    info: object = None

    @classmethod
    def assemble(cls, pipeline, counts, class_names, source, info=None):
        """The splits `pipeline(split, training)` makes of "train" (training), "validation" and
        "test", of `counts[split]` examples each: a split without examples has no pipeline (None)."""

        def made(split):
            return pipeline(split, split == "train") if counts.get(split) else None

        return cls(
            train=made("train"),
            validation=made("validation"),
            test=made("test"),
            class_names=tuple(class_names),
            train_examples=counts.get("train", 0),
            validation_examples=counts.get("validation", 0),
            test_examples=counts.get("test", 0),
            source=source,
            info=info,
        )

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def evaluation_split(self):
        """`(name, dataset)`: the test split, or the validation split when there is none."""
        return ("test", self.test) if self.test is not None else ("validation", self.validation)


@dataclasses.dataclass
class RawSplits:
    """An app's examples as its source holds them, before any decoding: what a streaming app's
    loaders return, what `kapps <app> prepare-data` writes to TFRecord shards and what
    `--data records:DIR` reads back.

    Attributes:
        splits: `{"train" | "validation" | "test": tf.data.Dataset}`; each element a dict of
            tensors with the keys and trailing shapes of the app's `record_features` (encoded
            image bytes, boxes, class ids, mask bytes...). The datasets stream: only an index
            (file names, annotations) is held in memory, files are read inside `tf.data`.
        counts: `{split: number of examples}`.
        class_names: the names of the classes, in label order.
        source: where the examples came from, in words.
        details: JSON-able facts about the source worth keeping with the records (the
            validation fraction and seed used for the hold-out, the test split rule...).
    """

    splits: dict
    counts: dict
    class_names: tuple = ()
    source: str = ""
    details: dict = dataclasses.field(default_factory=dict)


# Decoded examples of a split are cached in memory only while they fit in this many bytes: what
# caching may add to a process's memory, whatever the split's size (a bigger split is not cached).
DECODED_CACHE_BYTES = 128 * 2**20


def cached_if_small(dataset, examples, bytes_per_example, limit_bytes=DECODED_CACHE_BYTES):
    """`dataset.cache()` when `examples * bytes_per_example` fits in `limit_bytes`, else `dataset`.

    A small split is decoded once and kept; a larger one is decoded again each epoch, so
    memory stays bounded whatever the split's size.
    """
    return dataset.cache() if examples * bytes_per_example <= limit_bytes else dataset


def _can_connect(address):
    try:
        with socket.create_connection(address, timeout=TFDS_PROBE_SECONDS):
            return True
    except OSError:
        return False


def network_reachable(address=TFDS_PROBE_HOST, seconds=TFDS_PROBE_SECONDS):
    """True if a TCP connection to `address` opens within `seconds` (DNS included)."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(_can_connect, address)
    try:
        return future.result(timeout=seconds + 1)
    except concurrent.futures.TimeoutError:
        return False
    finally:
        pool.shutdown(wait=False)


def load_tfds(name, split, *, as_supervised=True, data_dir=None, decoders=None):
    """`tfds.load` that fails fast, naming the other sources, when TFDS cannot download.

    A dataset already prepared in the TFDS data directory loads without the network.
    Otherwise TFDS would retry for minutes before failing offline, so the network
    is probed first. `decoders` go to `as_dataset` (`{"image": tfds.decode.SkipDecoding()}` keeps
    images encoded, for pipelines that decode them in parallel).
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared() and not network_reachable():
        raise DataSourceError(
            f"TFDS dataset {name!r} is not downloaded and the TFDS servers cannot be reached "
            f"(no network?). Use local files with --data files:PATH or the offline sample "
            f"with --data builtin."
        )
    builder.download_and_prepare()
    return builder.as_dataset(split=split, as_supervised=as_supervised, decoders=decoders)


def held_out_rows(count, fraction, seed):
    """`(kept, held)` row numbers: a seeded random `fraction` of `count` rows held out (every app's
    validation split). Both come in that random order; sort them to keep the source's order."""
    if not 0 <= fraction < 1:
        raise ValueError(f"The held-out fraction must be in [0, 1), got {fraction}.")
    order = np.random.default_rng(seed).permutation(count)
    held = int(round(count * fraction))
    return order[held:], order[:held]


def hold_out_stream(dataset, count, fraction, seed):
    """`({"train": kept, "validation": held}, their counts)`: the stream `dataset` of `count` examples
    split by `held_out_rows`, each part in the stream's order (nothing is read until iterated)."""
    kept, held = held_out_rows(count, fraction, seed)
    return (
        {"train": _rows_of(dataset, kept, count), "validation": _rows_of(dataset, held, count)},
        {"train": len(kept), "validation": len(held)},
    )


def _rows_of(dataset, rows, count):
    keep = np.zeros(count, bool)
    keep[rows] = True
    keep = tf.constant(keep)
    return dataset.enumerate().filter(lambda index, _: keep[index]).map(lambda _, example: example)


def hold_out(inputs, labels, fraction, seed):
    """`((inputs, labels), (held_inputs, held_labels))`: a random `fraction` of the examples held out."""
    kept, held = held_out_rows(len(inputs), fraction, seed)
    return (inputs[kept], labels[kept]), (inputs[held], labels[held])


def batched_pipeline(
    dataset,
    batch_size,
    *,
    training,
    seed=None,
    preprocess=None,
    augment=None,
    cache=True,
    shuffle_buffer=10_000,
    padding_values=None,
):
    """parse/preprocess → cache → shuffle → batch → augment → prefetch.

    Elements may be `(features, targets)` with dict features and targets of varying
    size per example (a box list, a mask): those are padded to the largest in the
    batch, with `padding_values` (a structure like the element, e.g. -1 for a
    padded box's class; zeros by default). `preprocess` maps single examples
    (deterministic work, cached); `augment` maps whole batches — the whole element,
    so boxes and masks move with their image (`apps.core.augment`) — training only,
    after the cache so each epoch sees new variants.
    """
    if preprocess is not None:
        dataset = dataset.map(preprocess, num_parallel_calls=AUTOTUNE)
    if cache:
        dataset = dataset.cache()
    if training:
        dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if padding_values is not None or not _fixed_shapes(dataset):
        dataset = dataset.padded_batch(batch_size, padding_values=padding_values, drop_remainder=False)
    else:
        dataset = dataset.batch(batch_size, drop_remainder=False)
    if training and augment is not None:
        dataset = dataset.map(augment, num_parallel_calls=AUTOTUNE)
    return prefetched(dataset)


def _fixed_shapes(dataset):
    return all(spec.shape.is_fully_defined() for spec in tf.nest.flatten(dataset.element_spec))


def rebatch(dataset, batch_size, examples_count=None):
    """The batched `dataset` regrouped into batches of `batch_size` (padded when the
    examples have variable shapes, as padded text batches do). With `examples_count`,
    the result knows its length, so Keras shows progress and does not warn."""
    if dataset is None:
        return None
    examples = dataset.unbatch()
    shapes = tf.nest.flatten(tf.nest.map_structure(lambda spec: spec.shape, examples.element_spec))
    if all(shape.is_fully_defined() for shape in shapes):
        batches = examples.batch(batch_size)
    else:
        batches = examples.padded_batch(batch_size)
    if examples_count is not None:
        batches = batches.apply(tf.data.experimental.assert_cardinality(math.ceil(examples_count / batch_size)))
    return prefetched(batches)
