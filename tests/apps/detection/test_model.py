"""FCOS assignment and loss, and the one decode step (score threshold, per-class greedy NMS)."""

import keras
import numpy as np
import pytest

from apps.detection.model import DetectionOutputs, FcosLoss, build_detector, decode, positions
from tests.apps.detection.conftest import tiny_config

ROWS = 8  # every decode test pads its rows to this: one shape, one compilation on JAX


class _Model:
    """What `decode` reads of a model: its `detections` layer."""

    def __init__(self, **settings):
        self.layer = DetectionOutputs(100, (8,), **settings)

    def get_layer(self, name):
        assert name == "detections"
        return self.layer


def _predictions(rows, classes=2):
    """Raw outputs `[1, n, 5 + classes]` from (box in pixels, class, score) rows: centre-ness
    certain, so the score √(class probability × centre-ness) is √(class probability)."""
    out = np.full((1, ROWS, 5 + classes), -20.0, np.float32)
    for index, (box, label, score) in enumerate(rows):
        out[0, index, :4] = box
        out[0, index, 4] = 30.0
        out[0, index, 5 + label] = np.log(score**2 / (1 - score**2))
    return out


def _numpy(decoded):
    return {name: keras.ops.convert_to_numpy(value) for name, value in decoded.items()}


@pytest.mark.multibackend
def test_decode_thresholds_suppresses_per_class_and_pads():
    rows = [
        ([10, 10, 50, 50], 0, 0.6),  # kept
        ([12, 12, 52, 52], 0, 0.8),  # best: kept
        ([11, 11, 51, 51], 1, 0.7),  # same place, other class: kept
        ([60, 60, 90, 90], 0, 0.5),  # elsewhere: kept
        ([13, 13, 53, 53], 0, 0.2),  # under the score threshold
        ([10, 14, 50, 54], 0, 0.75),
    ]  # overlaps the best by IoU > 0.5: suppressed
    rows[0] = ([0, 0, 20, 20], 0, 0.6)
    decoded = _numpy(decode(_predictions(rows), _Model(score_threshold=0.3, iou_threshold=0.5, max_detections=6)))
    assert decoded["num_detections"].tolist() == [4.0]
    np.testing.assert_allclose(decoded["detection_scores"][0], [0.8, 0.7, 0.6, 0.5, 0, 0], atol=1e-5)
    np.testing.assert_array_equal(decoded["detection_classes"][0], [1, 2, 1, 1, 0, 0])
    np.testing.assert_allclose(
        decoded["detection_boxes"][0, :4],
        np.array([[12, 12, 52, 52], [11, 11, 51, 51], [0, 0, 20, 20], [60, 60, 90, 90]]) / 100,
        atol=1e-6,
    )
    assert not decoded["detection_boxes"][0, 4:].any()


@pytest.mark.multibackend
def test_nms_is_greedy_a_suppressed_box_suppresses_nothing():
    rows = [([0, 0, 40, 40], 0, 0.9), ([0, 10, 40, 50], 0, 0.8), ([0, 20, 40, 60], 0, 0.7)]
    decoded = _numpy(decode(_predictions(rows), _Model(iou_threshold=0.5, max_detections=3)))
    # IoU(first, second) = 0.6: second dropped; IoU(first, third) = 0.33, so the third stays
    # although it overlaps the (dropped) second by 0.6.
    np.testing.assert_allclose(decoded["detection_scores"][0], [0.9, 0.7, 0.0], atol=1e-5)


@pytest.mark.multibackend
def test_no_detection_gives_empty_answers_and_a_lower_threshold_finds_more():
    rows = [([10, 10, 50, 50], 0, 0.1), ([60, 60, 90, 90], 1, 0.2)]
    model = _Model(score_threshold=0.3, max_detections=4)
    decoded = _numpy(decode(_predictions(rows), model))
    assert decoded["num_detections"].tolist() == [0.0] and not decoded["detection_scores"].any()
    assert decoded["detection_boxes"].shape == (1, 4, 4) and not decoded["detection_boxes"].any()
    assert _numpy(decode(_predictions(rows), model, score_threshold=0.05))["num_detections"].tolist() == [2.0]


@pytest.mark.multibackend
def test_assignment_centre_sampling_smallest_box_and_padding():
    loss = FcosLoss(32, (8, 16), num_classes=2, center_radius=1.0, size_per_stride=8.0)
    targets = np.zeros((1, 3, 5), np.float32)
    targets[0, 0] = [0, 0, 32, 32, 1]  # the whole image, class 0
    targets[0, 1] = [0, 0, 12, 12, 2]  # a small box in the corner, class 1
    positive, boxes, classes = (keras.ops.convert_to_numpy(value) for value in loss.assign(targets))
    centres, strides = positions(32, (8, 16))
    assert len(centres) == 16 + 4
    # Level 8 (the first) takes boxes up to 64 px from a position; its positions within one stride
    # of the small box's centre (6, 6) learn the small box, those near (16, 16) the large one.
    small = positive[0] & (classes[0] == 1)
    assert set(map(tuple, centres[small].tolist())) == {(4.0, 4.0)}
    np.testing.assert_allclose(boxes[0][small], [[0, 0, 12, 12]])
    large = positive[0] & (classes[0] == 0)
    assert {(12.0, 12.0), (12.0, 20.0), (20.0, 12.0), (20.0, 20.0)} <= set(map(tuple, centres[large].tolist()))
    assert not positive[0][strides == 16].any()  # level 16 learns boxes of 64 px and more only
    empty = np.zeros((1, 3, 5), np.float32)
    assert not keras.ops.convert_to_numpy(loss.assign(empty)[0]).any()


@pytest.mark.multibackend
def test_centreness_is_one_at_the_centre_and_falls_towards_the_sides():
    loss = FcosLoss(32, (8,), num_classes=1)
    centres, _ = positions(32, (8,))
    boxes = np.tile(np.array([[0, 0, 32, 32]], np.float32), (len(centres), 1))[None]
    values = keras.ops.convert_to_numpy(loss.centreness(boxes))[0].reshape(4, 4)
    np.testing.assert_allclose(values[1, 1], np.sqrt(12 / 20 * 12 / 20), rtol=1e-5)
    np.testing.assert_allclose(values[0, 0], np.sqrt(4 / 28 * 4 / 28), rtol=1e-5)
    assert values[1, 1] > values[0, 1] > values[0, 0]


def test_loss_is_lower_for_the_right_answer():
    loss = FcosLoss(32, (8, 16), num_classes=2)
    targets = np.zeros((2, 2, 5), np.float32)
    targets[0, 0] = [4, 4, 28, 20, 2]
    centres, _ = positions(32, (8, 16))
    right = np.zeros((2, len(centres), 7), np.float32)
    right[..., :4] = [4, 4, 28, 20]
    right[..., 5:] = -8.0
    positive, boxes, _ = loss.assign(targets)
    target = keras.ops.convert_to_numpy(loss.centreness(boxes))
    right[..., 4] = np.log(target / (1 - target + 1e-6) + 1e-6)
    right[0, keras.ops.convert_to_numpy(positive)[0], 6] = 8.0
    wrong = right.copy()
    wrong[..., :4] = [0, 0, 8, 8]
    wrong[..., 5:] = 0.0
    good, bad = (float(keras.ops.convert_to_numpy(loss(targets, value))) for value in (right, wrong))
    assert np.isfinite(good) and np.isfinite(bad) and good + 0.5 < bad


def test_detector_answers_boxes_and_logits_per_position():
    config = tiny_config()
    model = build_detector(config, ("a", "b", "c"))
    out = model(np.zeros((2, 64, 64, 3), np.float32))
    assert tuple(out.shape) == (2, 8 * 8 + 4 * 4 + 2 * 2, 5 + 3)
    boxes = keras.ops.convert_to_numpy(out)[..., :4]
    assert np.all(boxes[..., 2] > boxes[..., 0]) and np.all(boxes[..., 3] > boxes[..., 1])
    assert model.get_layer("detections").class_names == ("a", "b", "c")


def test_a_keras_applications_backbone_feeds_the_pyramid():
    """`--backbone MobileNetV2` (random weights here; `--backbone-weights imagenet` downloads them):
    its last features at strides 8, 16 and 32 feed the same pyramid and heads."""
    model = build_detector(tiny_config(backbone="MobileNetV2", image_size=96), ("a",))
    assert any(layer.name == "backbone_mobilenetv2" for layer in model.layers)
    out = model(np.zeros((1, 96, 96, 3), np.float32))
    assert tuple(out.shape) == (1, 12 * 12 + 6 * 6 + 3 * 3, 5 + 1)
