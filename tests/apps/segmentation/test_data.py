"""Segmentation data: every source checked, masks moved with their images, ignored pixels kept out."""

import numpy as np
import pytest
from PIL import Image

from apps.core.config import ConfigError
from apps.core.data import DataSourceError
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


def test_builtin_is_deterministic_and_has_every_class():
    images, masks = builtin_split("test", 32)
    again_images, again_masks = builtin_split.__wrapped__("test", 32)
    np.testing.assert_array_equal(images, again_images)
    np.testing.assert_array_equal(masks, again_masks)
    assert images.shape == (80, 32, 32, 3) and images.dtype == np.uint8
    assert set(np.unique(masks)) == set(range(len(CLASS_NAMES)))
    train_images, _ = builtin_split("train", 32)
    assert not any(np.array_equal(train_images[0], image) for image in images)


def test_oxford_trimaps_become_pet_background_border_and_split_rows_are_respected(tmp_path):
    trimaps = _masks() + 1  # Oxford's 1..3
    split = np.array(["trainval"] * 6 + ["test"] * 3 + ["none"])
    path = _npz(tmp_path / "pets.npz", trimaps=trimaps, split=split)
    train, test, names = segmentation_data.load_files(path, tiny_config(image_size=SIZE))
    assert names == ("pet", "background", "border")
    assert (len(train), len(test)) == (6, 3)
    np.testing.assert_array_equal(test.masks, trimaps[6:9] - 1)
    assert "pets.npz[6]" in test.names[0]


def test_semantic_masks_are_person_and_background_and_the_last_examples_test(tmp_path):
    path = _npz(tmp_path / "people.npz", masks=_masks(high=9), semantic=_masks(high=2))
    config = tiny_config(image_size=SIZE, test_size=4)  # `semantic` is picked before `masks`
    train, test, names = segmentation_data.load_files(path, config)
    assert names == ("background", "person")
    assert (len(train), len(test)) == (6, 4)
    np.testing.assert_array_equal(test.masks, _masks(high=2)[6:])


def test_unknown_mask_key_names_the_arrays(tmp_path):
    path = _npz(tmp_path / "data.npz", masks=_masks())
    with pytest.raises(DataSourceError, match=r"no array 'labels' \(--mask-key\); it holds images, masks"):
        segmentation_data.load_files(path, tiny_config(mask_key="labels"))


def test_class_ids_past_the_declared_classes_name_the_row(tmp_path):
    masks = _masks()
    masks[7, 3, 3] = 5
    path = _npz(tmp_path / "data.npz", masks=masks)
    config = tiny_config(image_size=SIZE, class_names=("a", "b", "c"))
    train, test, names = segmentation_data.load_files(path, config)
    with pytest.raises(DataSourceError, match=r"data.npz\[7\] holds class id\(s\) \[5\], but there are 3 classes"):
        segmentation_data.make_splits(train, test, names, config, "files:data.npz")


def _write_pair(folder, stem, image, mask):
    (folder / "images").mkdir(exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    Image.fromarray(image).save(folder / "images" / f"{stem}.jpg")
    Image.fromarray(mask).save(folder / "masks" / f"{stem}.png")


def test_folders_with_split_files_resize_images_and_masks(tmp_path):
    rng = np.random.default_rng(0)
    for index in range(4):
        mask = np.zeros((24, 40), np.uint8)
        mask[:, 20:] = 1
        _write_pair(tmp_path, f"item{index}", rng.integers(0, 255, (24, 40, 3), dtype=np.uint8), mask)
    (tmp_path / "train.txt").write_text("item0\nitem1\nitem2\n")
    (tmp_path / "test.txt").write_text("item3\n")
    train, test, names = segmentation_data.load_files(tmp_path, tiny_config(image_size=SIZE))
    assert (len(train), len(test), names) == (3, 1, ())
    assert test.images.shape == (1, SIZE, SIZE, 3)
    np.testing.assert_array_equal(test.masks[0, :, :SIZE // 2], 0)
    np.testing.assert_array_equal(test.masks[0, :, SIZE // 2:], 1)


def test_a_mask_of_another_size_than_its_image_names_the_file(tmp_path):
    _write_pair(tmp_path, "bad", np.zeros((20, 30, 3), np.uint8), np.zeros((20, 20), np.uint8))
    with pytest.raises(DataSourceError, match=r"bad.png: the mask is 20x20 pixels but the image is 30x20"):
        segmentation_data.load_files(tmp_path, tiny_config(image_size=SIZE))


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
    config = tiny_config(image_size=SIZE)
    train, test, names = segmentation_data.load_files(tmp_path, config)
    assert names[15] == "person" and len(names) == 21
    assert set(np.unique(test.masks)) == {0, 15, 255}
    splits = segmentation_data.make_splits(train, test, names, config.replace(validation_fraction=0.0),
                                           "files:voc")
    assert splits.class_names[15] == "person"


def test_ignore_class_inside_the_classes_is_refused():
    with pytest.raises(ConfigError, match="--ignore-class 1 is one of the 4 classes"):
        segmentation_data.make_splits(*segmentation_data.load_builtin(tiny_config()),
                                      tiny_config(ignore_class=1), "builtin")


def test_augmentation_moves_masks_with_images_and_marks_new_borders_ignored():
    """Each image's 8×8 blocks are coloured by their class id: after flips, zooms and shifts
    the mask must still match the image wherever it is not the ignored id (but at block edges,
    where the image is interpolated and the mask is not)."""
    import tensorflow as tf

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


def test_splits_hold_out_validation_and_keep_the_test_images_for_plots():
    config = tiny_config()
    splits = segmentation_data.make_splits(*segmentation_data.load_builtin(config), config, "builtin")
    assert (splits.train_examples, splits.validation_examples, splits.test_examples) == (48, 16, 80)
    images, masks = next(iter(splits.validation))
    assert images.shape == (16, 32, 32, 3) and masks.shape == (16, 32, 32, 1)
    assert splits.info["test_images"].shape == (80, 32, 32, 3)


def test_tfds_offline_fails_fast_naming_the_other_sources(monkeypatch):
    from apps.core import data as core_data

    monkeypatch.setattr(core_data, "network_reachable", lambda *args, **kwargs: False)
    with pytest.raises(DataSourceError, match="--data files:PATH or the offline sample with --data builtin"):
        segmentation_data.load_tfds_pets("oxford_iiit_pet", tiny_config())
