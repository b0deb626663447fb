"""RetinaNet's IoU assignment (positives, ignored anchors, low-quality matches) and its loss."""

import keras
import numpy as np
import pytest

from apps.detection.anchor_outputs import anchor_boxes
from apps.detection.model import build_model
from apps.detection.retinanet_loss import RetinaNetLoss
from tests.apps.detection.conftest import tiny_config

ANCHORS = dict(anchor_size=4.0, anchor_scales=1, anchor_ratios=(1.0,))  # one 32×32 square per stride-8 position


def _numpy(values):
    return [keras.ops.convert_to_numpy(value) for value in values]


@pytest.mark.multibackend
def test_assignment_by_iou_with_ignored_anchors_and_a_best_match_for_every_object():
    loss = RetinaNetLoss(64, (8,), num_classes=2, positive_iou=0.5, negative_iou=0.4, **ANCHORS)
    anchors = anchor_boxes(64, (8,), **ANCHORS)
    targets = np.zeros((1, 3, 5), np.float32)
    targets[0, 0] = [anchors[27, 0], anchors[27, 1], anchors[27, 2], anchors[27, 3], 1]  # exactly anchor 27
    targets[0, 1] = [0, 56, 6, 64, 2]  # a tiny box in a corner: no anchor reaches IoU 0.4
    positive, ignored, boxes, classes = _numpy(loss.assign(targets))
    np.testing.assert_allclose(boxes[0, 27], targets[0, 0, :4])
    assert positive[0, 27] and classes[0, 27] == 0
    iou = keras.ops.convert_to_numpy(keras.utils.bounding_boxes.compute_iou(anchors, targets[0, :2, :4], "yxyx"))
    iou, tiny_iou = iou[:, 0], iou[:, 1]
    np.testing.assert_array_equal(positive[0] & (classes[0] == 0), iou >= 0.5)
    np.testing.assert_array_equal(ignored[0], (iou >= 0.4) & (iou < 0.5))
    assert 0 < tiny_iou.max() < 0.4
    tiny = np.flatnonzero(positive[0] & (classes[0] == 1))  # kept anyway: its best anchor(s)
    np.testing.assert_array_equal(tiny, np.flatnonzero(tiny_iou == tiny_iou.max()))
    np.testing.assert_allclose(boxes[0, tiny], np.repeat(targets[0, 1:2, :4], len(tiny), axis=0))
    empty = np.zeros((1, 3, 5), np.float32)
    positive, ignored, _, _ = _numpy(loss.assign(empty))
    assert not positive.any() and not ignored.any()


def test_loss_is_lower_for_the_right_answer():
    loss = RetinaNetLoss(64, (8,), num_classes=2, **ANCHORS)
    targets = np.zeros((2, 2, 5), np.float32)
    targets[0, 0] = [8, 8, 40, 32, 2]
    positive, _, boxes, _ = _numpy(loss.assign(targets))
    right = np.zeros((2, 64, 7), np.float32)
    right[..., :4] = boxes
    right[..., 5:] = -8.0
    right[0, positive[0], 6] = 8.0
    wrong = right.copy()
    wrong[..., :4] = [0, 0, 8, 8]
    wrong[..., 5:] = 0.0
    good, bad = (float(keras.ops.convert_to_numpy(loss(targets, value))) for value in (right, wrong))
    assert np.isfinite(good) and np.isfinite(bad) and good + 0.5 < bad
    again = RetinaNetLoss.from_config(loss.get_config())
    assert float(keras.ops.convert_to_numpy(again(targets, right))) == pytest.approx(good, rel=1e-5)


@pytest.mark.multibackend
def test_retinanet_learns_a_few_scenes():
    """The compiled RetinaNet (anchors, deltas decoded to boxes, CIoU and focal losses) trains on
    the backend at hand: a few steps on two scenes bring the loss down."""
    config = tiny_config(model="retinanet", learning_rate=1e-2, image_size=32, pyramid_levels=1)
    model = build_model(config, ("a", "b"), train_examples=2)
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    targets = np.zeros((2, 2, 5), np.float32)
    targets[:, 0] = [[4, 4, 20, 16, 1], [10, 15, 30, 30, 2]]
    history = model.fit(images, targets, batch_size=2, epochs=6, verbose=0).history["loss"]
    assert np.all(np.isfinite(history)) and history[-1] < 0.8 * history[0]
