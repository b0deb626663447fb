"""Data sources and pipelines of the DCGAN app."""

import gzip

import numpy as np
import pytest
from PIL import Image

from apps.dcgan import data
from tests.apps.dcgan.conftest import tiny_config


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(size).to_bytes(4, "big") for size in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_mnist_idx_folder_is_read_with_the_digits_reader(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 6), ("t10k", 3)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 255, (count, 28, 28)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(count) % 10)
    ((train_images, train_labels), (test_images, _)), class_names = data.load_file_arrays(tmp_path, tiny_config())
    assert train_images.shape == (6, 28, 28) and test_images.shape == (3, 28, 28)
    assert train_labels.tolist() == [0, 1, 2, 3, 4, 5] and class_names == tuple("0123456789")


def test_a_folder_of_images_is_resized_centre_cropped_and_labelled_by_sub_folder(tmp_path):
    for name, color in (("cats", (255, 0, 0)), ("dogs", (0, 0, 255))):
        (tmp_path / name).mkdir()
        for index in range(5):
            canvas = np.zeros((40, 80, 3), np.uint8)
            canvas[:, 20:60] = color  # the centre square, the sides black
            Image.fromarray(canvas).save(tmp_path / name / f"{index}.png")
    config = tiny_config(image_size=16, channels=3)
    ((images, labels), (test_images, test_labels)), class_names = data.load_file_arrays(tmp_path, config)
    assert class_names == ("cats", "dogs")
    assert images.shape[1:] == (16, 16, 3) and len(images) + len(test_images) == 10
    every_image = np.concatenate([images, test_images])
    every_label = np.concatenate([labels, test_labels])
    assert np.all(every_image[every_label == 0][..., 0] > 200) and np.all(every_image[every_label == 0][..., 2] < 50)
    assert np.all(every_image[every_label == 1][..., 2] > 200)


def test_gray_becomes_rgb_and_rgb_gray():
    gray = np.full((2, 8, 8), 100, np.uint8)
    assert data.as_image_batch(gray, 8, 3).shape == (2, 8, 8, 3)
    rgb = np.full((2, 12, 12, 3), 100, np.uint8)
    assert data.as_image_batch(rgb, 8, 1).shape == (2, 8, 8, 1)


def test_an_empty_folder_names_what_it_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no"):
        data.load_file_arrays(tmp_path, tiny_config())


def test_pipelines_hold_labels_and_images_in_the_tanh_range(app):
    splits = app.load_builtin(tiny_config())
    inputs, images = next(iter(splits.train))
    assert set(inputs) == {"labels"} and images.shape == (64, 28, 28, 1)
    assert -1.0 <= float(np.min(images)) < float(np.max(images)) <= 1.0
    assert splits.train_examples == 192 and splits.validation_examples == 64 and splits.test_examples == 1000
    assert splits.class_names == tuple("0123456789")
