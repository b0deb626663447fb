"""Train → run folder → export → serve → predict: the detection slice on TensorFlow."""

import io
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.core import workflow
from apps.core.errors import InputError
from apps.detection.app import DetectionApp
from apps.detection.builtin import builtin_split
from tests.apps import tiny_runs

OUTPUTS = {"detection_boxes", "detection_scores", "detection_classes", "detection_class_names", "num_detections"}


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """The session's tiny run (`tests.apps.tiny_runs`), read-only."""
    return tiny_runs.trained(DetectionApp(), tmp_path_factory)


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    return tiny_runs.exported(DetectionApp(), tmp_path_factory)


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(str(exported[1]))


def _encoded(image, format_name):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format=format_name)
    return buffer.getvalue()


def test_run_folder_holds_coco_metrics_and_plots(trained_run):
    run, metrics = trained_run
    for name in (
        "model.keras",
        "metrics.json",
        "history.csv",
        "learning_curves.png",
        "precision_recall.png",
        "detections.png",
        "checkpoints/best.keras",
    ):
        assert (run.path / name).exists(), name
    saved = json.loads(run.metrics_path.read_text())
    assert saved["split"] == "test" and saved["examples"] == 96
    for name in ("map", "map50", "map75", "map_small", "map_medium", "map_large", "ar100"):
        assert -1.0 <= saved[name] <= 1.0, name
    assert set(saved["per_class_ap"]) == {"disc", "square", "triangle"}
    history = run.load_history()
    assert {"val_map50", "val_map", "field_metrics_seconds"} <= set(history)
    assert len(list((run.path / "samples").glob("*.png"))) == 4


def test_mixed_size_png_and_jpeg_answered_as_the_decode_step_does(trained_run, loaded):
    images, _, _ = builtin_split("test", 64)
    wide = np.asarray(Image.fromarray(images[2]).resize((150, 60)))
    outputs = loaded.signatures["serving_default"](
        image_bytes=tf.constant([_encoded(images[0], "PNG"), _encoded(wide, "JPEG"), _encoded(images[1], "BMP")])
    )
    outputs = {name: value.numpy() for name, value in outputs.items()}
    assert set(outputs) == OUTPUTS
    assert outputs["detection_boxes"].shape == (3, 20, 4) and outputs["num_detections"].shape == (3,)
    assert np.all((outputs["detection_boxes"] >= 0) & (outputs["detection_boxes"] <= 1))
    assert np.all(np.diff(outputs["detection_scores"], axis=1) <= 0)  # best first
    names = {name.decode() for name in outputs["detection_class_names"].ravel()}
    assert names <= {"", "disc", "square", "triangle"} and names - {""}
    # The exported graph answers what the one decode step answers in process.
    model = keras.saving.load_model(trained_run[0].model_path)
    app = DetectionApp()
    expected = app.decode_predictions(model(images[:2].astype(np.float32), training=False), model)
    for index, row in ((0, 0), (1, 2)):
        np.testing.assert_allclose(
            outputs["detection_scores"][row], keras.ops.convert_to_numpy(expected["detection_scores"])[index], atol=1e-5
        )
        np.testing.assert_allclose(
            outputs["detection_boxes"][row], keras.ops.convert_to_numpy(expected["detection_boxes"])[index], atol=1e-5
        )
    uint8 = loaded.signatures["serve_uint8"](input_tensor=tf.constant(images[:2]))
    np.testing.assert_allclose(uint8["detection_scores"].numpy(), outputs["detection_scores"][[0, 2]], atol=1e-5)


def test_non_image_bytes_are_refused_with_a_clear_message(loaded):
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"image_bytes\[1\]: not a PNG, JPEG, GIF or BMP image \(17 bytes\)"
    ):
        loaded.signatures["serving_default"](
            image_bytes=tf.constant([_encoded(np.zeros((8, 8, 3), np.uint8), "PNG"), b"this is no image!"])
        )
    with pytest.raises(tf.errors.InvalidArgumentError, match="input_tensor: expected shape"):
        loaded.signatures["serve_uint8"](input_tensor=tf.zeros([1, 8, 8, 4], tf.uint8))


def test_a_6000x6000_photo_is_answered(loaded):
    photo = np.zeros((6000, 6000, 3), np.uint8)
    photo[1000:4000, 2000:3500] = (200, 40, 40)
    outputs = loaded.signatures["serving_default"](image_bytes=tf.constant([_encoded(photo, "JPEG")]))
    assert outputs["detection_boxes"].shape == (1, 20, 4)
    assert np.all(np.isfinite(outputs["detection_scores"].numpy()))


def test_predict_prints_boxes_and_writes_an_annotated_png(exported, tmp_path):
    images, _, _ = builtin_split("test", 64)
    path = tmp_path / "street.jpg"
    path.write_bytes(_encoded(np.asarray(Image.fromarray(images[0]).resize((120, 80))), "JPEG"))
    text = workflow.predict(DetectionApp(), [str(path)], exported[0], output_dir=tmp_path / "out")
    lines = text.splitlines()
    assert lines[0] == f"{path}: 20 detection(s) in 120x80"
    name, score, _, xs, _, ys = lines[1].split()
    assert name in ("disc", "square", "triangle") and 0 <= float(score) <= 1 and "-" in xs and "-" in ys
    drawn = tmp_path / "out" / "street.detections.png"
    assert f"Wrote {drawn}" in text
    picture = np.asarray(Image.open(drawn))
    assert picture.shape == (80, 120, 3) and not np.array_equal(picture, np.asarray(Image.open(path)))
    with pytest.raises(InputError, match="No such image file"):
        workflow.predict(DetectionApp(), [str(tmp_path / "missing.jpg")], exported[0])
