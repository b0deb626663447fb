"""Train → run folder → export → reload: the whole digits slice on TensorFlow."""

import json
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.core import workflow
from apps.core.errors import InputError
from apps.digits import data as digits_data
from apps.digits.app import DigitsApp
from tests.apps import tiny_runs
from tests.apps.core.test_images import png_header_only
from tests.apps.digits.conftest import tiny_config


def test_run_folder_holds_every_artifact(trained_run):
    run, metrics = trained_run
    for name in (
        "config.json",
        "model.keras",
        "metrics.json",
        "history.csv",
        "learning_curves.png",
        "confusion_matrix.png",
        "misclassified.png",
        "checkpoints/best.keras",
    ):
        assert (run.path / name).exists(), name
    assert list((run.path / "logs").rglob("events.out.tfevents.*")), "no TensorBoard logs"
    saved = json.loads(run.metrics_path.read_text())
    assert saved["accuracy"] == metrics["accuracy"] and 0.0 <= saved["accuracy"] <= 1.0
    assert set(saved["per_class"]) == {str(d) for d in range(10)}
    assert {"precision", "recall", "f1-score"} <= set(saved["per_class"]["3"])
    assert json.loads(run.config_path.read_text())["config"]["width"] == 4
    assert len(list((run.path / "samples").glob("*.png"))) == 10


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """The session's tiny run exported once: `(model_base_path, version folder)`."""
    return tiny_runs.exported(DigitsApp(), tmp_path_factory)


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(str(exported[1]))


def test_export_signatures_equal_model_predict(trained_run, exported, loaded):
    run, _ = trained_run
    base, path = exported
    assert path == base / "digits" / "1"
    model = keras.saving.load_model(run.model_path)
    (_, _), (images, _) = digits_data.builtin_arrays()
    images = images[:5]
    expected = model.predict(images[..., None].astype(np.float32) / 255.0, verbose=0)
    assert set(loaded.signatures) == {"serving_default", "serve_uint8", "serve_image_bytes", "serve_tf_example"}

    as_floats = loaded.signatures["serving_default"](images=tf.constant(images / 255.0, tf.float32))
    as_0_255 = loaded.signatures["serving_default"](images=tf.constant(images, tf.float32))
    as_uint8 = loaded.signatures["serve_uint8"](images=tf.constant(images))
    pngs = [tf.io.encode_png(image[..., None]).numpy() for image in images]
    as_png = loaded.signatures["serve_image_bytes"](image_bytes=tf.constant(pngs))
    examples = [
        tf.train.Example(
            features=tf.train.Features(
                feature={"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[png]))}
            )
        ).SerializeToString()
        for png in pngs
    ]
    as_examples = loaded.signatures["serve_tf_example"](examples=tf.constant(examples))
    for outputs in (as_floats, as_0_255, as_uint8, as_png, as_examples):
        assert outputs["classes"].dtype == tf.int64
        np.testing.assert_allclose(outputs["probabilities"].numpy(), expected, atol=1e-5)
        np.testing.assert_array_equal(outputs["classes"].numpy(), expected.argmax(-1))


def test_exported_signatures_refuse_bad_inputs_clearly(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError, match="over the limit of 16777216 pixels per image"):
        loaded.signatures["serve_image_bytes"](image_bytes=tf.constant([png_header_only(20000, 20000)]))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"image_bytes\[0\]: not a PNG, JPEG, GIF or BMP"):
        loaded.signatures["serve_image_bytes"](image_bytes=tf.constant([b"\x00" * 10]))
    images = np.zeros((2, 28, 28), np.float32)
    images[1, 3, 4] = np.inf
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"images\[1\]: holds a value that is not finite"):
        loaded.signatures["serving_default"](images=tf.constant(images))


def test_predict_answers_image_files_from_the_export(app, trained_run, exported):
    run, _ = trained_run
    samples = sorted(str(p) for p in (run.path / "samples").glob("*.png"))[:3]
    answer = workflow.predict(app, samples, exported[0])
    lines = answer.splitlines()
    assert len(lines) == 3 and all("probability" in line for line in lines)
    with pytest.raises(InputError, match="No such image"):
        workflow.predict(app, [str(exported[0] / "missing.png")], exported[0])


def test_same_seed_same_model(app):
    """The seeding `workflow.train` does, then `App.train` twice: the same weights."""
    config = tiny_config(max_examples=128, augment=False)
    weights = []
    for _ in range(2):
        keras.utils.set_random_seed(config.seed)
        data = app.load_data(config)
        model = app.build_model(config, data)
        app.train(model, data, config)
        weights.append(model.get_weights())
    for first, second in zip(*weights):
        np.testing.assert_allclose(first, second, atol=1e-5)


def test_export_keeps_metrics_and_card_and_the_gate_refuses_a_worse_run(trained_run, exported, tmp_path):
    """A second export of a run whose test accuracy is 0.05 lower than the stored version's
    is refused with both figures; `force` writes it, with its own metrics and card."""
    from apps.core.export_gate import ExportRefused

    run, metrics = trained_run
    first = exported[1]
    assert json.loads((first / "assets.extra" / "metrics.json").read_text())["accuracy"] == metrics["accuracy"]
    card = (first / "assets.extra" / "model_card.md").read_text()
    assert "— version 1" in card and "builtin" in card and "| accuracy (export gate) |" in card
    assert "`serve_image_bytes`: inputs image_bytes: string [-1]" in card and "Known limits" in card

    run, base = tiny_runs.copy_of(run, tmp_path), tmp_path / "models"
    shutil.copytree(exported[0] / "digits", base / "digits")
    worse = dict(metrics, accuracy=metrics["accuracy"] - 0.05)
    run.save_metrics(worse)
    with pytest.raises(ExportRefused, match=f"accuracy {worse['accuracy']:.4f} against version 1's"):
        workflow.export(DigitsApp(), run.path, base)
    assert sorted(path.name for path in (base / "digits").iterdir()) == ["1"]
    lines = []
    second = workflow.export(DigitsApp(), run.path, base, force=True, log=lines.append)
    assert second.name == "2" and lines[0].startswith("Export gate skipped (--force)")
    assert json.loads((second / "assets.extra" / "metrics.json").read_text())["accuracy"] == worse["accuracy"]
