"""DCGAN data: TFDS image datasets, MNIST IDX files or folders of images, or the builtin digits.

Every source becomes uint8 arrays `[N, image_size, image_size, channels]` with integer labels,
then pipelines whose elements are `({"labels": y}, images)`: what conditions the generator and
the real images (floats in [-1, 1], the range of its tanh output). The noise is the model's to
draw (`apps.dcgan.model.GAN`), so a tuner trial may change the latent size on the same data.
"""

from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.core.data import DataSourceError, DataSplits, hold_out, load_tfds, prefetched
from apps.digits import data as digits_data
from apps.digits.idx import load_mnist_idx

AUTOTUNE = tf.data.AUTOTUNE
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
FOLDER_TEST_FRACTION = 0.1
SHUFFLE_BUFFER = 20_000


def prepare_image(image, image_size, channels):
    """One uint8 image `[H, W]` or `[H, W, 1|3|4]` → `[image_size, image_size, channels]`: gray/RGB
    converted (alpha dropped), resized so its shorter side is `image_size`, centre-cropped."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., np.newaxis]
    return _resized_and_cropped(_with_channels(image, channels), image_size).astype(np.uint8)


def as_image_batch(images, image_size, channels):
    """`prepare_image` of each image (a batch already of that shape is kept as it is)."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.shape[1:] == (image_size, image_size, channels):
        return images.astype(np.uint8)
    return np.stack([prepare_image(image, image_size, channels) for image in images])


def _with_channels(image, channels):
    if image.shape[-1] == 4:
        image = image[..., :3]
    if image.shape[-1] == channels:
        return image
    if channels == 1:
        return tf.image.rgb_to_grayscale(image).numpy()
    return np.repeat(image, 3, axis=-1)


def _resized_and_cropped(image, size):
    height, width = image.shape[:2]
    if (height, width) != (size, size):
        scale = size / min(height, width)
        new_size = (max(size, round(height * scale)), max(size, round(width * scale)))
        image = tf.image.resize(image, new_size, method="area", antialias=True).numpy()
        top, left = (new_size[0] - size) // 2, (new_size[1] - size) // 2
        image = image[top:top + size, left:left + size]
    return np.clip(np.round(image), 0, 255)


# ----- sources ---------------------------------------------------------------------------
def builtin_arrays():
    """The digits app's bundled 5,000 real MNIST digits (4,000 train / 1,000 test)."""
    return digits_data.builtin_arrays()


def tfds_arrays(name):
    """The train and test splits of a TFDS image dataset with `image` and `label` features."""
    arrays = []
    for split in ("train", "test"):
        dataset = load_tfds(name, split)
        images, labels = zip(*dataset.batch(10_000).as_numpy_iterator())
        arrays.append((np.concatenate(images), np.concatenate(labels).astype(np.int64)))
    return tuple(arrays), _tfds_class_names(name)


def _tfds_class_names(name):
    import tensorflow_datasets as tfds

    feature = tfds.builder(name).info.features["label"]
    return tuple(feature.names)


def _is_idx_folder(path):
    return any(Path(path).glob("train-images*idx3*"))


def folder_arrays(path, image_size, channels):
    """Images of a folder (any size, resized and centre-cropped), labelled by sub-folder name;
    `train/` and `test/` sub-folders are used as the splits when present, otherwise
    `FOLDER_TEST_FRACTION` of the images are held out as the test split."""
    path = Path(path)
    if (path / "train").is_dir() and (path / "test").is_dir():
        train_images, train_labels, class_names = _read_labelled_folder(path / "train", image_size, channels)
        test_images, test_labels, _ = _read_labelled_folder(path / "test", image_size, channels, class_names)
        return ((train_images, train_labels), (test_images, test_labels)), class_names
    images, labels, class_names = _read_labelled_folder(path, image_size, channels)
    train, test = hold_out(images, labels, FOLDER_TEST_FRACTION, seed=0)
    return (train, test), class_names


def _read_labelled_folder(folder, image_size, channels, class_names=None):
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise FileNotFoundError(f"{folder} holds no {', '.join(IMAGE_SUFFIXES)} images (nor MNIST IDX files).")
    groups = [p.parent.relative_to(folder).as_posix() for p in files]
    class_names = class_names or tuple(sorted(set(groups)))
    unknown = sorted(set(groups) - set(class_names))
    if unknown:
        raise FileNotFoundError(f"{folder}: classes {unknown} are not among the training classes {class_names}.")
    images = np.stack([prepare_image(_read_image(p), image_size, channels) for p in files])
    labels = np.array([class_names.index(group) for group in groups], dtype=np.int64)
    return images, labels, class_names


def _read_image(path):
    from PIL import Image

    with Image.open(path) as image:
        image = image.convert("RGBA" if image.mode in ("RGBA", "LA", "P") else "RGB")
        return np.asarray(image, dtype=np.uint8)


def load_file_arrays(path, config):
    """`((train, test), class_names)` from MNIST IDX files or a folder of images."""
    if not Path(path).is_dir():
        raise FileNotFoundError(f"{path} is not a folder (MNIST IDX files or images in class sub-folders).")
    if _is_idx_folder(path):
        return load_mnist_idx(path), digits_data.CLASS_NAMES
    return folder_arrays(path, config.image_size, config.channels)


# ----- pipelines -------------------------------------------------------------------------
def to_unit_range(images):
    """uint8 images → float32 in [-1, 1]."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def _pipeline(images, labels, config, training):
    """Batches `({"labels": y}, images in [-1, 1])`; the training one reshuffled every epoch."""
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).cache()
    if training:
        dataset = dataset.shuffle(min(len(images), SHUFFLE_BUFFER), seed=config.seed, reshuffle_each_iteration=True)
    # Whole batches only in training: a last small batch skews batch normalisation (and
    # would make JAX compile the step a second time).
    dataset = dataset.batch(config.batch_size, drop_remainder=training and len(images) >= config.batch_size)
    return prefetched(dataset.map(lambda batch, batch_labels: ({"labels": batch_labels}, to_unit_range(batch)),
                                  num_parallel_calls=AUTOTUNE))


def make_splits(train, test, class_names, config, source):
    """Pipelines for the train/validation/test arrays, following `config`."""
    train_images, train_labels = (as_image_batch(train[0], config.image_size, config.channels), train[1])
    test_images, test_labels = as_image_batch(test[0], config.image_size, config.channels), test[1]
    if config.max_examples:
        train_images, train_labels = train_images[:config.max_examples], train_labels[:config.max_examples]
    (train_images, train_labels), (validation_images, validation_labels) = hold_out(
        train_images, train_labels, config.validation_fraction, config.seed)
    if not len(train_images):
        raise DataSourceError(f"{source} holds no training images.")
    return DataSplits(
        train=_pipeline(train_images, train_labels, config, training=True),
        validation=_pipeline(validation_images, validation_labels, config, training=False)
        if len(validation_images) else None,
        test=_pipeline(test_images, test_labels, config, training=False) if len(test_images) else None,
        class_names=tuple(class_names),
        train_examples=len(train_images),
        validation_examples=len(validation_images),
        test_examples=len(test_images),
        source=source,
        info={"train_images": train_images, "train_labels": train_labels},
    )
