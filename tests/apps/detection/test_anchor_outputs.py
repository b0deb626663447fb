"""RetinaNet's anchors, their decoding into boxes, and how `decode` scores them."""

import keras
import numpy as np
import pytest

from apps.detection.anchor_outputs import AnchorOutputs, anchor_boxes, anchor_shapes
from apps.detection.model import build_detector, decode
from tests.apps.detection.conftest import tiny_config


def test_anchor_shapes_span_an_octave_at_each_ratio():
    shapes = np.array(anchor_shapes(4.0, 2, (0.5, 2.0)))
    heights, widths = shapes[:, 0], shapes[:, 1]
    np.testing.assert_allclose(heights / widths, [0.5, 2.0, 0.5, 2.0])
    np.testing.assert_allclose(np.sqrt(heights * widths), [4.0, 4.0, 4 * 2**0.5, 4 * 2**0.5])


def test_anchors_follow_the_outputs_order_level_position_then_anchor():
    anchors = anchor_boxes(32, (8, 16), 4.0, 1, (1.0, 4.0))
    assert anchors.shape == ((16 + 4) * 2, 4)
    np.testing.assert_allclose(anchors[0], [4 - 16, 4 - 16, 4 + 16, 4 + 16])  # first position, square
    np.testing.assert_allclose(anchors[1], [4 - 32, 4 - 8, 4 + 32, 4 + 8])  # then the tall one
    np.testing.assert_allclose(anchors[2, :2], [4 - 16, 12 - 16])  # next column
    np.testing.assert_allclose(anchors[32], [8 - 32, 8 - 32, 8 + 32, 8 + 32])  # the stride-16 level


@pytest.mark.multibackend
def test_zero_deltas_answer_the_anchors_and_the_layer_round_trips():
    layer = AnchorOutputs(32, (8, 16), anchor_size=4.0, anchor_scales=1, anchor_ratios=(1.0, 4.0), class_names=("a",))
    inputs = [np.zeros((1, size, size, 2 * channels), np.float32) for size in (4, 2) for channels in (1, 4)]
    out = keras.ops.convert_to_numpy(layer(inputs))
    assert out.shape == tuple(layer.compute_output_shape([value.shape for value in inputs])) == (1, 40, 6)
    np.testing.assert_allclose(out[0, :, :4], anchor_boxes(32, (8, 16), 4.0, 1, (1.0, 4.0)), atol=1e-4)
    shifted = [value.copy() for value in inputs]
    shifted[1][0, 0, 0, :4] = [10.0, 0.0, 0.0, 0.0]  # centre moved down by 10 × 0.1 × the anchor height
    moved = keras.ops.convert_to_numpy(layer(shifted))[0, 0, :4]
    np.testing.assert_allclose(moved, [-12 + 32, -12, 20 + 32, 20], atol=1e-4)
    again = AnchorOutputs.from_config(layer.get_config())
    assert (again.anchor_ratios, again.anchors_per_position, again.class_names) == ((1.0, 4.0), 2, ("a",))


@pytest.mark.multibackend
def test_a_retinanet_detection_scores_its_class_probability():
    class _Model:
        layer = AnchorOutputs(100, (8,), score_threshold=0.3, max_detections=2)

        def get_layer(self, name):
            return self.layer

    predictions = np.full((1, 8, 6), -20.0, np.float32)
    predictions[0, 0] = [10, 10, 50, 50, 0.0, np.log(0.6 / 0.4)]  # column 4 (centre-ness) is not read
    decoded = {name: keras.ops.convert_to_numpy(value) for name, value in decode(predictions, _Model()).items()}
    np.testing.assert_allclose(decoded["detection_scores"][0], [0.6, 0.0], atol=1e-5)
    np.testing.assert_allclose(decoded["detection_boxes"][0, 0], [0.1, 0.1, 0.5, 0.5], atol=1e-6)


def test_the_retinanet_detector_answers_every_anchor():
    config = tiny_config(model="retinanet", anchor_scales=2, anchor_ratios=(0.5, 1.0, 2.0))
    model = build_detector(config, ("a", "b", "c"))
    out = model(np.zeros((2, 64, 64, 3), np.float32))
    assert tuple(out.shape) == (2, (8 * 8 + 4 * 4 + 2 * 2) * 6, 5 + 3)
    assert model.get_layer("class_logits").filters == 6 * 3 and model.get_layer("box_deltas").filters == 6 * 4
    assert not any(layer.name == "centreness" for layer in model.layers)
