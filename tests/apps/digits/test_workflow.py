"""Train → run folder → export → reload: the whole digits slice on TensorFlow."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.core import workflow
from apps.digits import data as digits_data


def test_run_folder_holds_every_artifact(trained_run):
    run, metrics = trained_run
    for name in ("config.json", "model.keras", "metrics.json", "history.csv", "learning_curves.png",
                 "confusion_matrix.png", "misclassified.png", "checkpoints/best.keras"):
        assert (run.path / name).exists(), name
    assert list((run.path / "logs").rglob("events.out.tfevents.*")), "no TensorBoard logs"
    saved = json.loads(run.metrics_path.read_text())
    assert saved["accuracy"] == metrics["accuracy"] and 0.0 <= saved["accuracy"] <= 1.0
    assert set(saved["per_class"]) == {str(d) for d in range(10)}
    assert {"precision", "recall", "f1-score"} <= set(saved["per_class"]["3"])
    assert json.loads(run.config_path.read_text())["config"]["width"] == 4
    assert len(list((run.path / "samples").glob("*.png"))) == 10


def test_export_signatures_equal_model_predict(app, trained_run, tmp_path):
    run, _ = trained_run
    path = workflow.export(app, run.path, tmp_path)
    assert path == tmp_path / "digits" / "1"
    model = keras.saving.load_model(run.model_path)
    (_, _), (images, _) = digits_data.builtin_arrays()
    images = images[:5]
    expected = model.predict(images[..., None].astype(np.float32) / 255.0, verbose=0)
    loaded = tf.saved_model.load(str(path))
    assert {"serving_default", "serve_uint8", "serve_image_bytes"} <= set(loaded.signatures)

    as_floats = loaded.signatures["serving_default"](images=tf.constant(images / 255.0, tf.float32))
    as_0_255 = loaded.signatures["serving_default"](images=tf.constant(images, tf.float32))
    as_uint8 = loaded.signatures["serve_uint8"](images=tf.constant(images))
    pngs = [tf.io.encode_png(image[..., None]).numpy() for image in images]
    as_png = loaded.signatures["serve_image_bytes"](image_bytes=tf.constant(pngs))
    for outputs in (as_floats, as_0_255, as_uint8, as_png):
        np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-5)
        np.testing.assert_array_equal(outputs["classes"].numpy(), expected.argmax(-1))


def test_image_bytes_of_any_size_and_polarity(app, trained_run, tmp_path):
    run, _ = trained_run
    loaded = tf.saved_model.load(str(workflow.export(app, run.path, tmp_path)))
    (_, _), (images, _) = digits_data.builtin_arrays()
    big_dark_on_light = tf.image.resize(255 - images[:2, ..., None], (90, 60)).numpy().astype(np.uint8)
    jpegs = [tf.io.encode_jpeg(image).numpy() for image in big_dark_on_light]
    outputs = loaded.signatures["serve_image_bytes"](image_bytes=tf.constant(jpegs))
    assert outputs["probabilities"].shape == (2, 10)


def test_versions_increment_and_no_staging_folder_remains(app, trained_run, tmp_path):
    run, _ = trained_run
    first = workflow.export(app, run.path, tmp_path)
    second = workflow.export(app, run.path, tmp_path)
    assert (first.name, second.name) == ("1", "2")
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == ["1", "2"]
    with pytest.raises(FileExistsError):
        workflow.export(app, run.path, tmp_path, version=2)


def test_predict_answers_image_files_from_the_export(app, trained_run, tmp_path):
    run, _ = trained_run
    workflow.export(app, run.path, tmp_path)
    samples = sorted(str(p) for p in (run.path / "samples").glob("*.png"))[:3]
    answer = workflow.predict_local(app, samples, tmp_path)
    lines = answer.splitlines()
    assert len(lines) == 3 and all("probability" in line for line in lines)
    with pytest.raises(FileNotFoundError, match="No such image"):
        workflow.predict_local(app, [str(tmp_path / "missing.png")], tmp_path)


def test_evaluate_reloads_the_run(app, trained_run):
    run, metrics = trained_run
    _, again = workflow.evaluate(app, run.path)
    assert again["accuracy"] == pytest.approx(metrics["accuracy"])


def test_same_seed_same_model(app, tmp_path):
    from tests.apps.digits.conftest import tiny_config

    config = tiny_config(max_examples=128, augment=False)
    weights = []
    for name in ("a", "b"):
        run, _ = workflow.train(app, config, tmp_path / name, verbose=False)
        weights.append(keras.saving.load_model(run.model_path).get_weights())
    for first, second in zip(*weights):
        np.testing.assert_allclose(first, second, atol=1e-5)
