"""Segmentation data: every source streamed and checked, masks moved with their images, ignored pixels kept out."""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.core.config import ConfigError
from apps.core.data import DataSourceError, RawSplits, held_out_rows
from apps.core.decode_checks import data_errors_as_source_errors
from apps.segmentation import data as segmentation_data
from apps.segmentation.builtin import CLASS_NAMES, builtin_split
from tests.apps.segmentation.conftest import tiny_config

SIZE = 16


def _npz(path, count=10, **arrays):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (count, SIZE, SIZE, 3), dtype=np.uint8)
    np.savez(path, images=images, **arrays)
    return path


def _masks(count=10, high=3):
    return np.random.default_rng(1).integers(0, high, (count, SIZE, SIZE), dtype=np.uint8)


def _arrays(dataset):
    """`(uint8 images, masks [n, h, w])` of a whole batched pipeline."""
    images, masks = zip(*dataset.as_numpy_iterator())
    return np.concatenate(images).astype(np.uint8), np.concatenate(masks)[..., 0]


def _splits(raw, config):
    return segmentation_data.splits_from_raw(raw, config)


def test_builtin_is_deterministic_and_has_every_class():
    images, masks = builtin_split("test", 32)
    again_images, again_masks = builtin_split.__wrapped__("test", 32)
    np.testing.assert_array_equal(images, again_images)
    np.testing.assert_array_equal(masks, again_masks)
    assert images.shape == (80, 32, 32, 3) and images.dtype == np.uint8
    assert set(np.unique(masks)) == set(range(len(CLASS_NAMES)))
    train_images, _ = builtin_split("train", 32)
    assert not any(np.array_equal(train_images[0], image) for image in images)


def test_raw_examples_are_encoded_bytes_with_the_declared_features():
    config = tiny_config()
    raw = segmentation_data.load_builtin(config)
    assert isinstance(raw, RawSplits) and raw.counts == {"train": 48, "validation": 16, "test": 80}
    example = next(iter(raw.splits["test"]))
    assert set(example) == set(segmentation_data.RECORD_FEATURES)
    assert all(example[key].dtype == tf.string and example[key].shape == () for key in example)
    images, masks = builtin_split("test", 32)
    np.testing.assert_array_equal(tf.io.decode_png(example["image"]).numpy(), images[0])
    np.testing.assert_array_equal(tf.io.decode_png(example["mask"]).numpy()[..., 0], masks[0])


def test_oxford_trimaps_become_pet_background_border_and_split_rows_are_respected(tmp_path):
    trimaps = _masks() + 1  # Oxford's 1..3
    split = np.array(["trainval"] * 6 + ["test"] * 3 + ["none"])
    path = _npz(tmp_path / "pets.npz", trimaps=trimaps, split=split)
    config = tiny_config(image_size=SIZE)
    raw = segmentation_data.load_files(path, config)
    assert raw.class_names == ("pet", "background", "border")
    assert (raw.counts["train"] + raw.counts["validation"], raw.counts["test"]) == (6, 3)
    assert "pets.npz[6]" in next(iter(raw.splits["test"]))["name"].numpy().decode()
    _, test_masks = _arrays(_splits(raw, config).test)
    np.testing.assert_array_equal(test_masks, trimaps[6:9] - 1)


def test_semantic_masks_are_person_and_background_and_the_last_examples_test(tmp_path):
    path = _npz(tmp_path / "people.npz", masks=_masks(high=9), semantic=_masks(high=2))
    config = tiny_config(image_size=SIZE, test_size=4)  # `semantic` is picked before `masks`
    raw = segmentation_data.load_files(path, config)
    assert raw.class_names == ("background", "person")
    assert (raw.counts["train"] + raw.counts["validation"], raw.counts["test"]) == (6, 4)
    np.testing.assert_array_equal(_arrays(_splits(raw, config).test)[1], _masks(high=2)[6:])


def test_unknown_mask_key_names_the_arrays(tmp_path):
    path = _npz(tmp_path / "data.npz", masks=_masks())
    with pytest.raises(DataSourceError, match=r"no array 'labels' \(--mask-key\); it holds images, masks"):
        segmentation_data.load_files(path, tiny_config(mask_key="labels"))


def _read_all(dataset):
    with data_errors_as_source_errors():
        for _ in dataset:
            pass


def test_class_ids_past_the_declared_classes_stop_the_stream_with_one_line_naming_the_row(tmp_path):
    masks = _masks()
    masks[7, 3, 3] = 5
    path = _npz(tmp_path / "data.npz", masks=masks)
    config = tiny_config(image_size=SIZE, class_names=("a", "b", "c"))
    splits = _splits(segmentation_data.load_files(path, config), config)  # nothing decoded yet
    with pytest.raises(
        DataSourceError, match=r"data.npz\[7\] holds class id\(s\) \[5\], but there are 3 classes"
    ) as caught:
        _read_all(splits.train.concatenate(splits.validation))
    assert "\n" not in str(caught.value)


def test_without_declared_names_the_classes_go_up_to_the_largest_id(tmp_path):
    masks = _masks()
    masks[2, 0, 0] = 6
    masks[3, 0, 0] = 255  # ignored, not a class
    path = _npz(tmp_path / "data.npz", masks=masks)
    raw = segmentation_data.load_files(path, tiny_config(image_size=SIZE))
    assert raw.class_names == tuple(f"class_{index}" for index in range(7))


def _write_pair(folder, stem, image, mask, suffix=".png"):
    (folder / "images").mkdir(exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    Image.fromarray(image).save(folder / "images" / f"{stem}{suffix}")
    Image.fromarray(mask).save(folder / "masks" / f"{stem}.png")


def test_folders_with_split_files_resize_images_and_masks_as_before(tmp_path):
    """The streamed pixels are those of the whole-array loader: bilinear antialiased images
    rounded to uint8, nearest masks; the pipeline's format is unchanged."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (4, 24, 40, 3), dtype=np.uint8)
    for index in range(4):
        mask = np.zeros((24, 40), np.uint8)
        mask[:, 20:] = 1
        _write_pair(tmp_path, f"item{index}", images[index], mask)
    (tmp_path / "train.txt").write_text("item0\nitem1\nitem2\n")
    (tmp_path / "test.txt").write_text("item3\n")
    config = tiny_config(image_size=SIZE, batch_size=2)
    raw = segmentation_data.load_files(tmp_path, config)
    assert (raw.counts["train"] + raw.counts.get("validation", 0), raw.counts["test"], raw.class_names) == (
        3,
        1,
        ("class_0", "class_1"),
    )
    splits = _splits(raw, config)
    for dataset in (splits.train, splits.test):
        assert dataset.element_spec == (
            tf.TensorSpec((None, SIZE, SIZE, 3), tf.float32),
            tf.TensorSpec((None, SIZE, SIZE, 1), tf.int32),
        )
    test_images, test_masks = _arrays(splits.test)
    resized = tf.image.resize(images[3], (SIZE, SIZE), antialias=True)
    np.testing.assert_array_equal(test_images[0], tf.cast(tf.round(tf.clip_by_value(resized, 0, 255)), tf.uint8))
    np.testing.assert_array_equal(test_masks[0, :, : SIZE // 2], 0)
    np.testing.assert_array_equal(test_masks[0, :, SIZE // 2 :], 1)


def test_a_folder_of_hundreds_of_images_is_indexed_not_decoded(tmp_path):
    """Loading lists the files; they are read as the pipeline runs: a file changed after
    loading is seen changed, and a broken one only fails (naming it) when it is read."""
    for index in range(300):
        _write_pair(
            tmp_path,
            f"item{index:03d}",
            np.full((6, 6, 3), index % 200, np.uint8),
            np.full((6, 6), index % 2, np.uint8),
        )
    config = tiny_config(image_size=8, class_names=("a", "b"), validation_fraction=0.0, max_examples=0)
    (tmp_path / "images" / "item299.png").write_bytes(b"not an image")
    splits = _splits(segmentation_data.load_files(tmp_path, config), config)
    assert (splits.train_examples, splits.test_examples) == (240, 60)
    Image.fromarray(np.full((6, 6, 3), 250, np.uint8)).save(tmp_path / "images" / "item240.png")
    first_images, _ = next(iter(splits.test))
    assert np.all(first_images.numpy()[0] == 250)
    with pytest.raises(DataSourceError, match=r"item299.png: not a PNG, JPEG, GIF or BMP image"):
        _read_all(splits.test)


def test_a_mask_of_another_size_than_its_image_names_the_file(tmp_path):
    for stem in ("good", "bad"):
        _write_pair(
            tmp_path,
            stem,
            np.zeros((20, 30, 3), np.uint8),
            np.zeros((20, 30 if stem == "good" else 20), np.uint8),
            ".jpg",
        )
    config = tiny_config(image_size=SIZE, test_size=1, validation_fraction=0.0)
    splits = _splits(segmentation_data.load_files(tmp_path, config), config)
    with pytest.raises(DataSourceError, match=r"bad.png: the mask is 20x20 pixels but the image is 30x20"):
        _read_all(splits.train)


def test_a_missing_mask_stops_the_loading_on_the_index(tmp_path):
    _write_pair(tmp_path, "one", np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "images" / "two.png")
    (tmp_path / "train.txt").write_text("one\n")
    (tmp_path / "test.txt").write_text("two\n")
    with pytest.raises(DataSourceError, match=r"two: no image in .* or no two.png in"):
        segmentation_data.load_files(tmp_path, tiny_config())


def test_voc_layout_keeps_its_palette_indices_and_void_border(tmp_path):
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (tmp_path / folder).mkdir(parents=True)
    for stem in ("2007_000001", "2007_000002"):
        Image.fromarray(np.full((SIZE, SIZE, 3), 90, np.uint8)).save(tmp_path / "JPEGImages" / f"{stem}.jpg")
        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[4:12, 4:12] = 15  # person
        mask[3, 3:13] = 255  # void border
        palette_mask = Image.fromarray(mask, mode="P")
        palette_mask.putpalette([value for index in range(256) for value in (index, 0, 255 - index)])
        palette_mask.save(tmp_path / "SegmentationClass" / f"{stem}.png")
    (tmp_path / "ImageSets/Segmentation/train.txt").write_text("2007_000001\n")
    (tmp_path / "ImageSets/Segmentation/val.txt").write_text("2007_000002\n")
    config = tiny_config(image_size=SIZE, validation_fraction=0.0)
    raw = segmentation_data.load_files(tmp_path, config)
    assert raw.class_names[15] == "person" and len(raw.class_names) == 21
    splits = _splits(raw, config)
    _, masks = _arrays(splits.test)
    np.testing.assert_array_equal(masks[0], mask)
    assert splits.class_names[15] == "person"


def test_ignore_class_inside_the_classes_is_refused():
    with pytest.raises(ConfigError, match="--ignore-class 1 is one of the 4 classes"):
        _splits(segmentation_data.load_builtin(tiny_config()), tiny_config(ignore_class=1))


def test_augmentation_moves_masks_with_images_and_marks_new_borders_ignored():
    """Each image's 8×8 blocks are coloured by their class id: after flips, zooms and shifts
    the mask must still match the image wherever it is not the ignored id (but at block edges,
    where the image is interpolated and the mask is not)."""
    config = tiny_config(zoom=0.3, translation=0.3)
    blocks = np.random.default_rng(0).integers(0, 4, (8, 4, 4))
    ids = np.kron(blocks, np.ones((8, 8), int)).astype(np.int32)
    images = tf.constant(np.repeat(ids[..., None] * 50 + 20, 3, axis=-1).astype(np.float32))
    augment = segmentation_data.make_augmenter(config)
    moved_images, moved_masks = augment(images, tf.constant(ids[..., None]))
    moved_images, moved_masks = moved_images.numpy()[..., 0], moved_masks.numpy()[..., 0]
    kept = moved_masks != config.ignore_class
    assert 0.2 < kept.mean() < 1.0  # something moved out, most stayed
    agree = moved_masks[kept] == np.round((moved_images[kept] - 20) / 50)
    assert agree.mean() > 0.9
    assert np.mean(moved_images[~kept] < 20) > 0.9  # the border the transforms filled


def test_splits_hold_out_validation_by_seed_and_stream_the_test_images():
    config = tiny_config()
    splits = _splits(segmentation_data.load_builtin(config), config)
    assert (splits.train_examples, splits.validation_examples, splits.test_examples) == (48, 16, 80)
    images, masks = next(iter(splits.validation))
    assert images.shape == (16, 32, 32, 3) and masks.shape == (16, 32, 32, 1)
    test_images, test_masks = _arrays(splits.test)
    np.testing.assert_array_equal(test_images, builtin_split("test", 32)[0])
    np.testing.assert_array_equal(test_masks, builtin_split("test", 32)[1])
    train_images, _ = builtin_split("train", 32)
    _, held = held_out_rows(64, 0.25, config.seed)
    np.testing.assert_array_equal(_arrays(splits.validation)[0], train_images[:64][np.sort(held)])
    assert splits.info is None


def test_tfds_offline_fails_fast_naming_the_other_sources(monkeypatch):
    from apps.core import data as core_data

    monkeypatch.setattr(core_data, "network_reachable", lambda *args, **kwargs: False)
    with pytest.raises(DataSourceError, match="--data files:PATH or the offline sample with --data builtin"):
        segmentation_data.load_tfds_pets("oxford_iiit_pet", tiny_config())


def test_training_on_a_bad_folder_stops_with_the_one_line_error(tmp_path, app):
    for stem in ("a", "b", "c"):
        _write_pair(tmp_path, stem, np.zeros((8, 8, 3), np.uint8), np.full((8, 8), 9 if stem == "b" else 1, np.uint8))
    config = tiny_config(data=f"files:{tmp_path}", class_names=("x", "y"), test_size=1, validation_fraction=0.0)
    data = app.load_data(config)
    with pytest.raises(DataSourceError, match=r"masks/b.png holds class id\(s\) \[9\], but there are 2 classes"):
        app.train(app.make_model(config, data), data, config)
