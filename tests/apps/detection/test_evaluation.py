"""COCO metrics through pycocotools on a hand-made case whose AP is known, and over a streamed split."""

import keras
import numpy as np
import pytest

from apps.detection.builtin import builtin_split
from apps.detection.evaluation import SHOWN, coco_documents, coco_evaluate, predict_split, prediction_metrics
from tests.apps.detection.conftest import tiny_config

RECALL_POINTS = 101  # COCO interpolates precision at recall 0, 0.01, ..., 1


def _found(boxes, scores, classes):
    return {"detection_boxes": np.array(boxes, np.float32).reshape(-1, 4),
            "detection_scores": np.array(scores, np.float32), "detection_classes": np.array(classes, np.float32)}


def test_one_hit_one_false_alarm_one_miss():
    """Image 1: its object found at IoU 0.625 (score 0.9) and a false alarm (0.8); image 2: its
    object missed. Recall reaches 1/2 at precision 1, so AP50 = 51/101; at IoU 0.75 the hit is a miss."""
    truths = [(np.array([[10, 10, 50, 50]], np.float32), np.array([0])),
              (np.array([[0, 0, 20, 20]], np.float32), np.array([0]))]
    # A 40×25 detection inside the 40×40 truth: IoU 0.625.
    detections = [_found([[10 / 100, 10 / 100, 50 / 100, 35 / 100], [60 / 100, 60 / 100, 90 / 100, 90 / 100]],
                         [0.9, 0.8], [1, 1]),
                  _found([], [], [])]
    truth, results = coco_documents(truths, detections, 100, None, num_classes=1)
    metrics, precision = coco_evaluate(truth, results, ("person",))
    assert metrics["map50"] == pytest.approx(51 / RECALL_POINTS)
    assert metrics["map75"] == 0.0
    # Only IoU thresholds 0.5, 0.55 and 0.6 of the ten count the hit: AP = 3/10 × 51/101.
    assert metrics["map"] == pytest.approx(0.3 * 51 / RECALL_POINTS)
    assert metrics["per_class_ap"] == {"person": pytest.approx(metrics["map"])}
    assert metrics["ar100"] == pytest.approx(0.3 * 0.5)
    assert precision.shape[2] == 1


def test_original_sizes_scale_boxes_and_areas():
    """With each image's original size, boxes are compared in its own pixels: a 30×30 box at the
    network's 100×100 is a large object (over 96²) in a 400×400 photo."""
    truths = [(np.array([[10, 10, 40, 40]], np.float32), np.array([1]))]
    detections = [_found([[0.1, 0.1, 0.4, 0.4]], [0.7], [2])]
    truth, results = coco_documents(truths, detections, 100, np.array([[400, 400]]), num_classes=2)
    assert truth["annotations"][0]["bbox"] == pytest.approx([40, 40, 120, 120])
    assert results[0]["category_id"] == 2
    metrics, _ = coco_evaluate(truth, results, ("a", "b"))
    assert metrics["map"] == pytest.approx(1.0) and metrics["map_large"] == pytest.approx(1.0)
    assert metrics["map_small"] == -1.0
    assert metrics["per_class_ap"] == {"a": -1.0, "b": pytest.approx(1.0)}


def test_nothing_detected_scores_zero():
    truths = [(np.array([[10, 10, 40, 40]], np.float32), np.array([0]))]
    truth, results = coco_documents(truths, [_found([], [], [])], 100, None, num_classes=1)
    metrics, precision = coco_evaluate(truth, results, ("a",))
    assert precision is None and metrics["map50"] == 0.0 and metrics["per_class_ap"] == {"a": 0.0}


def test_the_streamed_test_split_scores_as_the_whole_split_in_memory(app):
    """One pass over `info.test_described` (batches, names, original sizes) gives the metrics
    of the builtin test scenes predicted and scored as arrays, and keeps its first images."""
    config = tiny_config()
    data = app.load_data(config)
    keras.utils.set_random_seed(1)
    model = app.build_model(config, data)
    decode = lambda predictions, threshold=0.0: app.decode_predictions(predictions, model, threshold)  # noqa: E731
    predictions = predict_split(model, data.info.test_described, decode)
    streamed, _ = prediction_metrics(predictions, data.class_names, config.image_size)

    images, boxes, classes = builtin_split("test", config.image_size)
    decoded = {name: keras.ops.convert_to_numpy(value)
               for name, value in decode(model.predict(images.astype(np.float32), batch_size=12, verbose=0)).items()}
    detections = [{name: decoded[name][row][:int(decoded["num_detections"][row])]
                   for name in ("detection_boxes", "detection_scores", "detection_classes")}
                  for row in range(len(images))]
    truth, results = coco_documents(list(zip(boxes, classes)), detections, config.image_size,
                                    [(64, 64)] * len(images), len(data.class_names))
    direct, _ = coco_evaluate(truth, results, data.class_names)
    assert results and streamed["map50"] > 0
    assert streamed.pop("per_class_ap") == pytest.approx(direct.pop("per_class_ap"), abs=1e-9)
    assert streamed == pytest.approx(direct, abs=1e-9)
    assert predictions.sizes == [(64, 64)] * 96
    shown = len(predictions.first["images"])
    assert SHOWN <= shown and predictions.first["names"] == [f"builtin/test[{index}]" for index in range(shown)]
    np.testing.assert_array_equal(predictions.first["images"], images[:shown])
