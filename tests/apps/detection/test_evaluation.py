"""COCO metrics through pycocotools on a hand-made case whose AP is known, batch by batch as pycocotools
scores a whole split at once, and over a streamed split."""

import contextlib
import io

import keras
import numpy as np
import pytest

from apps.detection.builtin import builtin_split
from apps.detection.evaluation import SHOWN, STATS, CocoAccumulator, coco_documents, score_split
from tests.apps.detection.conftest import tiny_config

RECALL_POINTS = 101  # COCO interpolates precision at recall 0, 0.01, ..., 1


def coco_evaluate(truths, detections, class_names, image_size=100, sizes=None, batch_size=None):
    """The metrics and precision array of `CocoAccumulator` fed `batch_size` images at a time (all at
    once by default)."""
    accumulator = CocoAccumulator(class_names, image_size)
    batch_size = batch_size or len(truths)
    for start in range(0, len(truths), batch_size):
        accumulator.add(
            truths[start : start + batch_size],
            detections[start : start + batch_size],
            None if sizes is None else sizes[start : start + batch_size],
        )
    return accumulator.result()


def whole_split_evaluation(truths, detections, class_names, image_size, sizes):
    """The evaluation before streaming: the whole split's COCO documents, scored by pycocotools at once."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    truth, results = coco_documents(truths, detections, image_size, sizes, len(class_names))
    with contextlib.redirect_stdout(io.StringIO()):
        ground = COCO()
        ground.dataset = truth
        ground.createIndex()
        evaluator = COCOeval(ground, ground.loadRes(results), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return dict(zip(STATS, evaluator.stats)), evaluator.eval["precision"]


def _found(boxes, scores, classes):
    return {
        "detection_boxes": np.array(boxes, np.float32).reshape(-1, 4),
        "detection_scores": np.array(scores, np.float32),
        "detection_classes": np.array(classes, np.float32),
    }


def test_one_hit_one_false_alarm_one_miss():
    """Image 1: its object found at IoU 0.625 (score 0.9) and a false alarm (0.8); image 2: its
    object missed. Recall reaches 1/2 at precision 1, so AP50 = 51/101; at IoU 0.75 the hit is a miss."""
    truths = [
        (np.array([[10, 10, 50, 50]], np.float32), np.array([0])),
        (np.array([[0, 0, 20, 20]], np.float32), np.array([0])),
    ]
    # A 40×25 detection inside the 40×40 truth: IoU 0.625.
    detections = [
        _found(
            [[10 / 100, 10 / 100, 50 / 100, 35 / 100], [60 / 100, 60 / 100, 90 / 100, 90 / 100]], [0.9, 0.8], [1, 1]
        ),
        _found([], [], []),
    ]
    metrics, precision = coco_evaluate(truths, detections, ("person",))
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
    metrics, _ = coco_evaluate(truths, detections, ("a", "b"), sizes=np.array([[400, 400]]))
    assert metrics["map"] == pytest.approx(1.0) and metrics["map_large"] == pytest.approx(1.0)
    assert metrics["map_small"] == -1.0
    assert metrics["per_class_ap"] == {"a": -1.0, "b": pytest.approx(1.0)}


def test_nothing_detected_scores_zero():
    truths = [(np.array([[10, 10, 40, 40]], np.float32), np.array([0]))]
    metrics, precision = coco_evaluate(truths, [_found([], [], [])], ("a",))
    assert precision is None and metrics["map50"] == 0.0 and metrics["per_class_ap"] == {"a": 0.0}


def random_split(count, seed=0):
    """`count` images of 0 to 4 true boxes of 3 classes and 0 to 40 detections, some on the true
    boxes (jittered), scores on a coarse grid (ties), and the images' original sizes."""
    rng = np.random.default_rng(seed)

    def boxes(number):
        corner = rng.uniform(0, 70, (number, 2))
        return np.concatenate([corner, corner + rng.uniform(2, 30, (number, 2))], axis=1).astype(np.float32)

    truths = [(boxes(number), rng.integers(0, 3, number)) for number in rng.integers(0, 5, count)]
    detections = []
    for true_boxes, true_classes in truths:
        jittered = (true_boxes + rng.normal(0, 2, true_boxes.shape)) / 100
        found = np.concatenate([jittered, boxes(int(rng.integers(0, 37))) / 100]).astype(np.float32)
        classes = np.concatenate([true_classes + 1, rng.integers(1, 4, len(found) - len(true_classes))])
        detections.append(_found(found, rng.integers(1, 20, len(found)) / 20, classes))
    return truths, detections, rng.integers(50, 500, (count, 2))


@pytest.mark.parametrize("batch_size", [1, 7, 60])
def test_batch_by_batch_equals_the_whole_split_at_once(batch_size):
    """The metrics and precision array of the split fed in batches are those of the evaluation before
    streaming (all COCO documents at once), exactly, on a split with ties, misses and false alarms."""
    truths, detections, sizes = random_split(60)
    expected, expected_precision = whole_split_evaluation(truths, detections, ("a", "b", "c"), 100, sizes)
    metrics, precision = coco_evaluate(truths, detections, ("a", "b", "c"), sizes=sizes, batch_size=batch_size)
    assert 0.1 < expected["map50"] < 0.9
    assert {name: metrics[name] for name in STATS} == expected
    np.testing.assert_array_equal(precision, expected_precision)


def test_the_streamed_test_split_scores_as_the_whole_split_in_memory(app):
    """One pass over `info.test_described` (batches, names, original sizes) gives the metrics
    of the builtin test scenes predicted and scored as arrays, and keeps its first images."""
    config = tiny_config()
    data = app.load_data(config)
    keras.utils.set_random_seed(1)
    model = app.build_model(config, data)
    decode = lambda predictions, threshold=0.0: app.decode_predictions(predictions, model, threshold)  # noqa: E731
    streamed, _, first = score_split(model, data.info.test_described, decode, data.class_names, config.image_size)

    images, boxes, classes = builtin_split("test", config.image_size)
    decoded = {
        name: keras.ops.convert_to_numpy(value)
        for name, value in decode(model.predict(images.astype(np.float32), batch_size=12, verbose=0)).items()
    }
    detections = [
        {
            name: decoded[name][row][: int(decoded["num_detections"][row])]
            for name in ("detection_boxes", "detection_scores", "detection_classes")
        }
        for row in range(len(images))
    ]
    direct, _ = whole_split_evaluation(
        list(zip(boxes, classes)), detections, data.class_names, config.image_size, [(64, 64)] * len(images)
    )
    assert streamed["map50"] > 0
    assert {name: streamed[name] for name in STATS} == pytest.approx(direct, abs=1e-9)
    shown = len(first["images"])
    assert SHOWN <= shown and first["names"] == [f"builtin/test[{index}]" for index in range(shown)]
    np.testing.assert_array_equal(first["images"], images[:shown])
