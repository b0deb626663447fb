import numpy as np
import pytest
import tensorflow as tf

from apps.digits import data as digits_data
from apps.digits.config import DigitsConfig
from tests.apps.digits.test_idx import write_mnist_folder


def test_builtin_digits_are_real_mnist_images():
    (train_images, train_labels), (test_images, test_labels) = digits_data.builtin_arrays()
    assert train_images.shape == (4000, 28, 28) and test_images.shape == (1000, 28, 28)
    assert train_images.dtype == np.uint8 and set(np.unique(train_labels)) == set(range(10))
    # Handwritten strokes: mostly black background, some fully white pixels.
    assert (train_images == 0).mean() > 0.6 and train_images.max() == 255


def test_pipeline_shapes_dtypes_and_split_sizes():
    config = DigitsConfig(data="builtin", batch_size=32, max_examples=200, validation_fraction=0.25)
    splits = digits_data.make_splits(*digits_data.builtin_arrays(), config, "builtin")
    images, labels = next(iter(splits.train))
    assert images.shape == (32, 28, 28, 1) and images.dtype == tf.float32
    assert labels.shape == (32, 10) and labels.dtype == tf.float32
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
    assert splits.train_examples == 150 and splits.validation_examples == 50 and splits.test_examples == 1000
    assert sum(len(y) for _, y in splits.test) == 1000
    assert splits.class_names == tuple("0123456789") and splits.source == "builtin"
    assert splits.info.test_images.shape == (1000, 28, 28) and splits.info.test_labels.shape == (1000,)


def test_augmentation_changes_training_images_only():
    train, test = digits_data.builtin_arrays()
    base = DigitsConfig(data="builtin", batch_size=16, max_examples=16, validation_fraction=0.0, seed=3)
    plain = digits_data.make_splits(train, test, base.replace(augment=False), "builtin")
    augmented = digits_data.make_splits(train, test, base, "builtin")
    plain_images = np.sort(next(iter(plain.train))[0].numpy().reshape(16, -1), axis=0)
    augmented_images = np.sort(next(iter(augmented.train))[0].numpy().reshape(16, -1), axis=0)
    assert not np.allclose(plain_images, augmented_images)
    np.testing.assert_array_equal(next(iter(plain.test))[0], next(iter(augmented.test))[0])


def test_files_source_reads_idx_folders(tmp_path):
    from apps.digits.app import DigitsApp

    write_mnist_folder(tmp_path, train_count=20, test_count=6)
    config = DigitsConfig(data=f"files:{tmp_path}", batch_size=8, validation_fraction=0.1)
    splits = DigitsApp().load_data(config)
    assert splits.train_examples == 18 and splits.test_examples == 6
    assert splits.source == f"files:{tmp_path}"


def test_validation_fraction_is_checked():
    with pytest.raises(ValueError, match="fraction must be in"):
        digits_data.make_splits(*digits_data.builtin_arrays(), DigitsConfig(validation_fraction=1.0), "builtin")
