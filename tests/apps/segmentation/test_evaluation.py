"""Segmentation metrics from one confusion matrix, ignored pixels left out."""

import numpy as np
import pytest
import tensorflow as tf

from apps.segmentation.evaluation import confusion_matrix, first_examples, scores


def test_scores_of_a_known_confusion_matrix():
    matrix = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 0]])  # class 2 never occurs nor is predicted
    values = scores(matrix, ("a", "b", "c"))
    assert values["per_class_iou"] == pytest.approx({"a": 8 / 11, "b": 3 / 6, "c": 0.0})
    assert values["mean_iou"] == pytest.approx((8 / 11 + 3 / 6) / 2)  # absent classes do not count
    assert values["pixel_accuracy"] == pytest.approx(11 / 14)
    assert values["per_class_dice"]["a"] == pytest.approx(16 / 19)
    assert values["mean_dice"] == pytest.approx((16 / 19 + 6 / 9) / 2)


class _Constant:
    """A "model" answering fixed probabilities."""

    def __init__(self, probabilities):
        self.probabilities = probabilities

    def predict_on_batch(self, images):
        return self.probabilities


def test_confusion_matrix_leaves_ignored_pixels_out():
    masks = np.array([[[0, 1], [255, 1]]], np.int32)[..., None]
    predicted = np.array([[[0, 0], [1, 1]]])
    probabilities = np.eye(2, dtype=np.float32)[predicted]
    dataset = tf.data.Dataset.from_tensor_slices((np.zeros((1, 2, 2, 3), np.float32), masks)).batch(1)
    decode = lambda values: {"mask": np.argmax(values, axis=-1).astype(np.uint8)}
    matrix = confusion_matrix(_Constant(probabilities), dataset, 2, 255, decode)
    np.testing.assert_array_equal(matrix, [[1, 0], [1, 1]])


class _FromPixels:
    """A "model" whose class at each pixel is its red value // 64."""

    def predict_on_batch(self, images):
        return np.eye(4, dtype=np.float32)[np.asarray(images)[..., 0].astype(int) // 64]


def test_the_streamed_confusion_matrix_equals_the_whole_array_one():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (37, 6, 6, 3)).astype(np.float32)
    masks = rng.integers(0, 4, (37, 6, 6, 1)).astype(np.int32)
    masks[::5, 0, 0] = 255
    dataset = tf.data.Dataset.from_tensor_slices((images, masks)).batch(8)
    decode = lambda values: {"mask": np.argmax(values, axis=-1).astype(np.uint8)}
    matrix = confusion_matrix(_FromPixels(), dataset, 4, 255, decode)
    counted = masks[..., 0] != 255
    whole = np.zeros((4, 4), np.int64)
    np.add.at(whole, (masks[..., 0][counted], (images[..., 0] // 64).astype(int)[counted]), 1)
    np.testing.assert_array_equal(matrix, whole)


def test_plots_take_the_first_examples_from_the_stream():
    images = np.arange(10 * 2 * 2 * 3, dtype=np.float32).reshape(10, 2, 2, 3) % 256
    masks = np.arange(10 * 4, dtype=np.int32).reshape(10, 2, 2, 1) % 3
    dataset = tf.data.Dataset.from_tensor_slices((images, masks)).batch(4)
    first_images, first_masks = first_examples(dataset, 6)
    np.testing.assert_array_equal(first_images, images[:6].astype(np.uint8))
    np.testing.assert_array_equal(first_masks, masks[:6, ..., 0])
