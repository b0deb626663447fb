"""Data sources and pipelines of the DCGAN app, streamed."""

import gzip
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.core.data import DataSourceError, RawSplits, held_out_rows, hold_out
from apps.core.decode_checks import data_errors_as_source_errors
from apps.dcgan import data
from apps.digits import data as digits_data
from tests.apps.dcgan.conftest import tiny_config


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(size).to_bytes(4, "big") for size in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def _arrays(dataset):
    """`(uint8 images, labels)` of a whole batched pipeline."""
    inputs, images = zip(*dataset.as_numpy_iterator())
    images = np.round((np.concatenate(images) + 1.0) * 127.5).astype(np.uint8)
    return images, np.concatenate([item["labels"] for item in inputs])


def test_mnist_idx_folder_is_read_with_the_digits_reader_and_encoded_lazily(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix, count in (("train", 6), ("t10k", 3)):
        arrays[prefix] = rng.integers(0, 255, (count, 28, 28))
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz", arrays[prefix])
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(count) % 10)
    config = tiny_config(validation_fraction=0.0, batch_size=4)
    raw = data.load_files(tmp_path, config)
    assert isinstance(raw, RawSplits) and raw.counts == {"train": 6, "test": 3}
    assert raw.class_names == tuple("0123456789")
    example = next(iter(raw.splits["test"]))
    assert set(example) == set(data.RECORD_FEATURES) and example["image"].dtype == tf.string
    splits = data.splits_from_raw(raw, config)
    test_images, test_labels = _arrays(splits.test)
    np.testing.assert_array_equal(test_images[..., 0], arrays["t10k"])
    assert test_labels.tolist() == [0, 1, 2]


def _reference(image, size):
    """The whole-array loader's resize: shorter side to `size` (area), centre crop, rounded."""
    height, width = image.shape[:2]
    scale = size / min(height, width)
    new_size = (max(size, round(height * scale)), max(size, round(width * scale)))
    resized = tf.image.resize(image, new_size, method="area", antialias=True).numpy()
    top, left = (new_size[0] - size) // 2, (new_size[1] - size) // 2
    return np.clip(np.round(resized[top : top + size, left : left + size]), 0, 255).astype(np.uint8)


def test_a_folder_of_images_is_resized_centre_cropped_and_labelled_by_sub_folder(tmp_path):
    rng = np.random.default_rng(0)
    for name, color in (("cats", (255, 0, 0)), ("dogs", (0, 0, 255))):
        (tmp_path / name).mkdir()
        for index in range(5):
            canvas = rng.integers(0, 30, (40, 80, 3)).astype(np.uint8)
            canvas[:, 20:60] = color  # the centre square, the sides dark
            Image.fromarray(canvas).save(tmp_path / name / f"{index}.png")
    config = tiny_config(image_size=16, channels=3, validation_fraction=0.0, max_examples=0)
    raw = data.load_files(tmp_path, config)
    assert raw.class_names == ("cats", "dogs") and raw.counts == {"train": 9, "test": 1}
    splits = data.splits_from_raw(raw, config)
    examples = list(splits.info.train.as_numpy_iterator())
    images, labels = np.stack([image for image, _ in examples]), np.array([label for _, label in examples])
    assert images.shape[1:] == (16, 16, 3)
    assert np.all(images[labels == 0][..., 0] > 200) and np.all(images[labels == 0][..., 2] < 50)
    assert np.all(images[labels == 1][..., 2] > 200)
    paths, _ = data.folder_index(tmp_path)[0]["train"]
    kept, _ = held_out_rows(len(paths), 0.0, config.seed)
    first = np.asarray(Image.open(paths[kept[0]]))
    np.testing.assert_array_equal(images[0], _reference(first, 16))


def test_gray_becomes_rgb_and_rgb_gray():
    gray = {"image": tf.io.encode_png(np.full((8, 8, 1), 100, np.uint8)), "label": tf.constant(0, tf.int64)}
    image, _ = data.decoder(tiny_config(image_size=8, channels=3))(gray)
    assert image.shape == (8, 8, 3) and np.all(image.numpy() == 100)
    rgb = {"image": tf.io.encode_png(np.full((12, 12, 3), 100, np.uint8)), "label": tf.constant(0, tf.int64)}
    image, _ = data.decoder(tiny_config(image_size=8, channels=1))(rgb)
    assert image.shape == (8, 8, 1) and np.all(image.numpy() == 100)


def test_an_empty_folder_names_what_it_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="holds no"):
        data.load_files(tmp_path, tiny_config())


def test_a_folder_of_hundreds_of_images_is_indexed_not_decoded(tmp_path):
    """Loading lists the files; they are read as the pipeline runs: files changed after loading
    are seen changed, and a broken one fails (one line, naming it) when it is read."""
    for group in ("a", "b"):
        (tmp_path / group).mkdir()
        for index in range(150):
            Image.fromarray(np.full((6, 6), index, np.uint8)).save(tmp_path / group / f"{index:03d}.png")
    config = tiny_config(image_size=8, validation_fraction=0.0, max_examples=0)
    splits = data.splits_from_raw(data.load_files(tmp_path, config), config)
    assert (splits.train_examples, splits.test_examples) == (270, 30)
    for path in (tmp_path / "a").iterdir():
        Image.fromarray(np.full((6, 6), 250, np.uint8)).save(path)
    images, labels = _arrays(splits.test)
    assert np.all(images[labels == 0] == 250) and not np.any(images[labels == 1] == 250)
    (tmp_path / "b" / "149.png").write_bytes(b"not an image")
    with pytest.raises(DataSourceError, match=r"b/149.png: not a PNG, JPEG, GIF or BMP image") as caught:
        with data_errors_as_source_errors():
            for _ in splits.train.concatenate(splits.test):
                pass
    assert "\n" not in str(caught.value)


def test_validation_is_held_out_at_index_level_as_before():
    config = tiny_config()
    splits = data.splits_from_raw(data.load_builtin(config), config)
    (images, labels), _ = digits_data.builtin_arrays()
    (kept, _), (held, held_labels) = hold_out(images[:256], labels[:256], 0.25, config.seed)
    images, labels = _arrays(splits.validation)
    np.testing.assert_array_equal(images[..., 0], held)
    np.testing.assert_array_equal(labels, held_labels)
    first = [image for image, _ in splits.info.train.take(3).as_numpy_iterator()]
    np.testing.assert_array_equal(np.stack(first)[..., 0], kept[:3])


def test_pipelines_hold_labels_and_images_in_the_tanh_range(app):
    splits = app.load_data(tiny_config())
    inputs, images = next(iter(splits.train))
    assert set(inputs) == {"labels"} and images.shape == (64, 28, 28, 1)
    assert splits.train.element_spec == (
        {"labels": tf.TensorSpec((64,), tf.int64)},
        tf.TensorSpec((64, 28, 28, 1), tf.float32),
    )
    assert -1.0 <= float(np.min(images)) < float(np.max(images)) <= 1.0
    assert splits.train_examples == 192 and splits.validation_examples == 64 and splits.test_examples == 1000
    assert splits.class_names == tuple("0123456789")


def test_tfds_images_stay_encoded_and_validation_is_held_out_of_train(monkeypatch):
    import tensorflow_datasets as tfds

    from apps.core import data as core_data

    monkeypatch.setattr(core_data, "network_reachable", lambda *args, **kwargs: True)
    monkeypatch.setattr(data, "split_count", lambda builder, split: 12)  # mocked TFDS has no split metadata
    config = tiny_config(max_examples=0, batch_size=4, validation_fraction=0.25)
    with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
        raw = data.load_tfds("mnist", config)
        assert raw.counts == {"train": 9, "validation": 3, "test": 12} and raw.class_names == tuple("0123456789")
        example = next(iter(raw.splits["train"]))
        assert example["image"].dtype == tf.string and tf.io.is_jpeg(example["image"]) | (
            example["image"].numpy()[:4] == b"\x89PNG"
        )
        splits = data.splits_from_raw(raw, config)
        assert sum(len(images) for _, images in splits.validation) == 3
        assert sum(len(images) for _, images in splits.train) == 8  # whole batches of 4


def test_the_fid_classifier_streams_and_a_broken_file_stops_it_with_one_line(tmp_path, app):
    (tmp_path / "a").mkdir()
    for index in range(20):
        Image.fromarray(np.full((8, 8), index, np.uint8)).save(tmp_path / "a" / f"{index:02d}.png")
    config = tiny_config(data=f"files:{tmp_path}", image_size=8, max_examples=0)
    app.fid_classifier(config, app.load_data(config))  # trains the classifier on the stream
    broken = Path(data.folder_index(tmp_path)[0]["train"][0][0])
    broken.write_bytes(b"no image")
    with pytest.raises(DataSourceError, match=f"{broken.name}: not a PNG, JPEG, GIF or BMP image"):
        app.fid_classifier(config, app.load_data(config))
