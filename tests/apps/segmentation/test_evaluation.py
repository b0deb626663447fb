"""Segmentation metrics from one confusion matrix, ignored pixels left out."""

import numpy as np
import pytest
import tensorflow as tf

from apps.segmentation.evaluation import confusion_matrix, scores


def test_scores_of_a_known_confusion_matrix():
    matrix = np.array([[8, 2, 0],
                       [1, 3, 0],
                       [0, 0, 0]])  # class 2 never occurs nor is predicted
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
