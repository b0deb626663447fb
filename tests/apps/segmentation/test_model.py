"""The segmentation models and their loss, on every backend."""

import keras
import numpy as np
import pytest

from apps.segmentation.model import BUILDERS, SegmentationLoss, build_model
from tests.apps.segmentation.conftest import tiny_config

pytestmark = pytest.mark.multibackend
CLASSES = 3


def _probabilities(seed, shape=(2, 8, 8, CLASSES)):
    logits = np.random.default_rng(seed).normal(size=shape)
    return (np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)).astype("float32")


def _labels(seed, shape=(2, 8, 8, 1)):
    return np.random.default_rng(seed).integers(0, CLASSES, shape).astype("int32")


def _loss(loss, labels, probabilities):
    return float(keras.ops.convert_to_numpy(loss(labels, probabilities)))


def test_ignored_pixels_change_nothing():
    loss = SegmentationLoss(CLASSES, dice_weight=0.5, ignore_class=255)
    labels, probabilities = _labels(0), _probabilities(1)
    ignored = labels.copy()
    ignored[:, :4] = 255
    other = probabilities.copy()
    other[:, :4] = _probabilities(2)[:, :4]  # different predictions where the mask is ignored
    assert _loss(loss, ignored, probabilities) == pytest.approx(_loss(loss, ignored, other), rel=1e-6)
    assert _loss(loss, ignored, probabilities) != pytest.approx(_loss(loss, labels, probabilities), rel=1e-3)


def test_dice_weight_zero_is_the_pixel_cross_entropy():
    labels, probabilities = _labels(0), _probabilities(1)
    expected = -np.log(np.take_along_axis(probabilities, labels, axis=-1)).mean()
    assert _loss(SegmentationLoss(CLASSES, dice_weight=0.0), labels, probabilities) == pytest.approx(expected, 1e-5)


def test_a_perfect_prediction_costs_almost_nothing_and_dice_alone_reaches_zero():
    labels = _labels(0)
    perfect = np.eye(CLASSES, dtype="float32")[labels[..., 0]]
    assert _loss(SegmentationLoss(CLASSES, dice_weight=0.5), labels, perfect) < 1e-4
    assert _loss(SegmentationLoss(CLASSES, dice_weight=1.0), labels, perfect) == pytest.approx(0.0, abs=1e-6)
    assert _loss(SegmentationLoss(CLASSES, dice_weight=1.0), labels, _probabilities(3)) > 0.3


@pytest.mark.parametrize("model", sorted(BUILDERS))
def test_models_answer_probabilities_per_pixel_and_reload(model, tmp_path):
    config = tiny_config(model=model)
    network = build_model(config, 4, train_examples=32)
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    probabilities = keras.ops.convert_to_numpy(network(images, training=False))
    assert probabilities.shape == (2, 32, 32, 4)
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-5)
    network.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(reloaded(images, training=False)), probabilities, atol=1e-5)
    assert reloaded.loss.get_config()["ignore_class"] == 255


def test_deeplab_pools_context_with_the_atrous_pyramid():
    network = build_model(tiny_config(model="deeplab", dilation_rates=(1, 2)), 4, train_examples=32)
    aspp = network.get_layer("aspp")
    assert type(aspp).__name__ == "AtrousSpatialPyramidPooling" and aspp.dilation_rates == (1, 2)
