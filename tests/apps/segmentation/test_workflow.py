"""Train → run folder → export → predict: the segmentation slice on TensorFlow."""

import io
import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.core import workflow
from apps.core.errors import InputError
from apps.segmentation.app import SegmentationApp
from apps.segmentation.builtin import builtin_split
from apps.segmentation.masks import PALETTE
from apps.segmentation.signatures import PADDING_CLASS
from tests.apps import tiny_runs
from tests.apps.core.test_images import exif_segment, png_header_only


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """The session's tiny run (`tests.apps.tiny_runs`), read-only."""
    return tiny_runs.trained(SegmentationApp(), tmp_path_factory)


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    return tiny_runs.exported(SegmentationApp(), tmp_path_factory)


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(str(exported[1]))


def _png(image):
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def test_run_folder_holds_metrics_and_plots(trained_run):
    run, metrics = trained_run
    for name in (
        "model.keras",
        "metrics.json",
        "history.csv",
        "learning_curves.png",
        "class_iou.png",
        "overlays.png",
        "checkpoints/best.keras",
    ):
        assert (run.path / name).exists(), name
    saved = json.loads(run.metrics_path.read_text())
    assert saved["split"] == "test" and saved["examples"] == 80
    assert set(saved["per_class_iou"]) == {"background", "circle", "square", "triangle"}
    assert 0.0 <= saved["mean_iou"] <= 1.0 and 0.0 <= saved["pixel_accuracy"] <= 1.0
    assert np.sum(saved["confusion_matrix"]) == 80 * 32 * 32
    history = run.load_history()
    assert {"val_mean_iou", "val_pixel_accuracy", "mean_iou", "field_metrics_seconds"} <= set(history)
    assert len(list((run.path / "samples").glob("*.png"))) == 4


def test_masks_come_back_at_each_image_size(trained_run, loaded):
    model = keras.saving.load_model(trained_run[0].model_path)
    images, _ = builtin_split("test", 32)
    expected = np.argmax(model.predict(images[:2].astype(np.float32), verbose=0), axis=-1)
    wide = np.asarray(Image.fromarray(images[2]).resize((48, 24)))
    outputs = loaded.signatures["serving_default"](
        image_bytes=tf.constant([_png(images[0]), _png(wide), _png(images[1])])
    )
    masks, pngs = outputs["mask"].numpy(), outputs["mask_png_bytes"].numpy()
    assert masks.shape == (3, 32, 48) and masks.dtype == np.uint8
    np.testing.assert_array_equal(masks[0, :, :32], expected[0])  # the network's own size: no resizing
    np.testing.assert_array_equal(masks[2, :, :32], expected[1])
    assert np.all(masks[0, :, 32:] == PADDING_CLASS) and np.all(masks[1, 24:] == PADDING_CLASS)
    for mask, png, (height, width) in zip(masks, pngs, [(32, 32), (24, 48), (32, 32)]):
        decoded = tf.io.decode_png(png).numpy()[..., 0]
        assert decoded.shape == (height, width)
        np.testing.assert_array_equal(decoded, mask[:height, :width])
    uint8 = loaded.signatures["serve_uint8"](images=tf.constant(images[:2]))
    np.testing.assert_array_equal(uint8["mask"].numpy(), expected)


def test_bad_images_are_refused_naming_the_input(loaded):
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"image_bytes\[1\]: a 200x100 image \(20000 pixels\) "
        "is over the limit of 10000 pixels",
    ):
        loaded.signatures["serving_default"](
            image_bytes=tf.constant([_png(np.zeros((8, 8, 3), np.uint8)), png_header_only(200, 100)])
        )
    with pytest.raises(tf.errors.InvalidArgumentError, match="images: expected shape"):
        loaded.signatures["serve_uint8"](images=tf.zeros([1, 8, 8, 4], tf.uint8))


def served_masks(exported, *paths):
    """The served `mask_png_bytes` of image files, decoded: the class ids of each pixel."""
    outputs = workflow.local_outputs(
        SegmentationApp(), SegmentationApp().request_from_cli([str(p) for p in paths]), exported[0]
    )
    return [tf.io.decode_png(png).numpy()[..., 0] for png in outputs["mask_png_bytes"]]


def test_predict_writes_the_mask_png_of_each_file(exported, tmp_path):
    images, _ = builtin_split("test", 32)
    path = tmp_path / "pet.png"
    path.write_bytes(_png(np.asarray(Image.fromarray(images[0]).resize((40, 30)))))
    text = workflow.predict(SegmentationApp(), [str(path)], exported[0], output_dir=tmp_path / "out")
    assert text.startswith(f"{path}: 40x30 mask, ")
    shares = text.splitlines()[0].split(" mask, ")[1].split(", ")
    assert {share.rsplit(" ", 1)[0] for share in shares} <= {"background", "circle", "square", "triangle"}, text
    written = tmp_path / "out" / "pet.mask.png"
    assert text.count(f"Wrote {written}\n") == 1
    with Image.open(written) as mask:  # a palette PNG, as Pascal VOC's: class ids coloured by the palette
        assert mask.mode == "P" and mask.getpalette()[: 3 * 256] == PALETTE.ravel().tolist()
        ids = np.asarray(mask)
    assert ids.shape == (30, 40)
    (served,) = served_masks(exported, path)
    np.testing.assert_array_equal(ids, served)
    drawn = tmp_path / "out" / "pet.overlay.png"
    assert f"Wrote {drawn}" in text and np.asarray(Image.open(drawn)).shape == (30, 40, 3)
    with pytest.raises(InputError, match="No such image file"):
        workflow.predict(SegmentationApp(), [str(tmp_path / "missing.jpg")], exported[0])


def test_masks_come_back_in_the_orientation_the_user_sees(exported, loaded, tmp_path):
    """A phone photo stored sideways with EXIF orientation 6: the mask, the overlay and the
    printed size are those of the upright photo, as viewers show it."""
    images, _ = builtin_split("test", 32)
    stored = np.asarray(Image.fromarray(images[0]).resize((40, 30)))
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, format="JPEG", quality=95)
    plain = buffer.getvalue()
    path = tmp_path / "phone.jpg"
    path.write_bytes(plain[:2] + exif_segment(6, b"II") + plain[2:])
    text = workflow.predict(SegmentationApp(), [str(path)], exported[0], output_dir=tmp_path / "out")
    assert text.startswith(f"{path}: 30x40 mask, ")
    mask = np.asarray(Image.open(tmp_path / "out" / "phone.mask.png"))
    assert mask.shape == (40, 30) and np.asarray(Image.open(tmp_path / "out" / "phone.overlay.png")).shape == (
        40,
        30,
        3,
    )
    upright = np.rot90(tf.io.decode_jpeg(plain).numpy(), -1)
    (expected,) = loaded.signatures["serving_default"](image_bytes=tf.constant([_png(upright)]))[
        "mask_png_bytes"
    ].numpy()
    np.testing.assert_array_equal(mask, np.asarray(Image.open(io.BytesIO(expected))))


def test_the_server_answers_each_request_at_its_own_sizes(exported, loaded):
    """`kapps serve` with batching and small chunks: a request split into chunks of different
    largest sizes answers as one call, and concurrent clients' images do not pad each other."""
    import base64
    import concurrent.futures

    from serving.batching import BatchingOptions
    from serving.model_config import ModelEntry
    from tests.serving.serving_helpers import Http, start_server

    images, _ = builtin_split("test", 32)
    wide = np.asarray(Image.fromarray(images[2]).resize((48, 24)))
    small = np.asarray(Image.fromarray(images[3]).resize((5, 4)))
    files = [_png(images[0]), _png(wide), _png(images[1])]  # chunks of two: 32x48, then 32x32
    server = start_server(
        [ModelEntry("segmentation", str(exported[0] / "segmentation"))],
        batching=BatchingOptions(batch_timeout_micros=200_000, num_batch_threads=2),
        request_chunk_rows=2,
        enable_warmup=False,
    )

    def masks(encoded):
        client = Http(server.rest_api_port)
        try:
            status, body = client(
                "POST",
                "/v1/models/segmentation:predict",
                {"instances": [{"b64": base64.b64encode(data).decode()} for data in encoded]},
            )
        finally:
            client.close()
        assert status == 200, body
        return np.asarray([row["mask"] for row in body["predictions"]])

    try:
        expected = loaded.signatures["serving_default"](image_bytes=tf.constant(files))["mask"].numpy()
        np.testing.assert_array_equal(masks(files), expected)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            small_mask, large_mask = pool.map(masks, [[_png(small)], [_png(images[0])]])
        assert small_mask.shape == (1, 4, 5) and large_mask.shape == (1, 32, 32)
    finally:
        server.stop()
