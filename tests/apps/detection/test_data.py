"""Builtin scenes, COCO JSON (folder or .tar of images) and Pascal VOC folders, bad annotations."""

import io
import json
import logging
import tarfile

import numpy as np
import pytest
from PIL import Image

from apps.core.config import ConfigError
from apps.detection import data as detection_data
from apps.detection.builtin import CLASS_NAMES, builtin_split
from apps.detection.data import AnnotationError, unpack
from tests.apps.detection.conftest import tiny_config


def test_builtin_scenes_are_deterministic_varied_and_hold_empty_images():
    images, boxes, classes = builtin_split("test", 64)
    again = builtin_split.__wrapped__("test", 64)
    np.testing.assert_array_equal(images, again[0])
    assert all(np.array_equal(a, b) for a, b in zip(boxes, again[1]))
    counts = [len(item) for item in boxes]
    assert images.shape == (96, 64, 64, 3) and min(counts) == 0 and max(counts) >= 3
    every = np.concatenate([item for item in boxes if len(item)])
    assert set(np.concatenate(classes).tolist()) == {0, 1, 2}
    assert np.all(every[:, 2] > every[:, 0]) and np.all(every[:, 3] > every[:, 1])
    assert every.min() == 0 and every.max() == 64  # some shapes are cut by the border
    sides = np.maximum(every[:, 2] - every[:, 0], every[:, 3] - every[:, 1])
    assert sides.min() < 12 and sides.max() > 25  # varied scales


def test_builtin_pipelines_pack_boxes_with_class_plus_one(app):
    data = app.load_data(tiny_config())
    assert data.class_names == CLASS_NAMES
    assert (data.train_examples, data.validation_examples, data.test_examples) == (36, 12, 96)
    images, targets = next(iter(data.test))
    assert images.shape == (12, 64, 64, 3) and targets.shape == (12, 8, 5)
    _, boxes, classes = builtin_split("test", 64)
    for (got_boxes, got_classes), want_boxes, want_classes in zip(unpack(targets.numpy()), boxes, classes):
        np.testing.assert_allclose(got_boxes, want_boxes)
        np.testing.assert_array_equal(got_classes, want_classes)


def test_augmentation_moves_boxes_with_the_image(app):
    """A horizontal flip only: every box is mirrored, and the shape's pixels move with it."""
    config = tiny_config(zoom=0.0, translation=0.0)
    augment = detection_data.make_augmenter(config)
    images, boxes, classes = builtin_split("test", 64)
    row = next(index for index, item in enumerate(boxes) if len(item) == 1)
    image = images[row:row + 1].astype(np.float32)
    padded = np.zeros((1, 8, 4), np.float32)
    padded[0, 0] = boxes[row][0]
    labels = np.full((1, 8), -1, np.int32)
    labels[0, 0] = classes[row][0]
    flipped = 0
    for _ in range(8):
        moved_image, moved = augment(image, {"boxes": padded, "classes": labels})
        moved_box = np.asarray(moved["boxes"])[0, 0]
        mirrored = np.array([padded[0, 0, 0], 64 - padded[0, 0, 3], padded[0, 0, 2], 64 - padded[0, 0, 1]])
        if np.allclose(np.asarray(moved_image), image):
            np.testing.assert_allclose(moved_box, padded[0, 0], atol=1e-3)
        else:
            np.testing.assert_allclose(np.asarray(moved_image), image[:, :, ::-1], atol=1e-3)
            np.testing.assert_allclose(moved_box, mirrored, atol=1e-3)
            flipped += 1
        assert int(np.asarray(moved["classes"])[0, 0]) == classes[row][0]
    assert flipped


def _jpeg(height, width, value=120):
    buffer = io.BytesIO()
    Image.fromarray(np.full((height, width, 3), value, np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _coco(tmp_path, annotations, images=None, as_tar=False, extra_categories=()):
    images = images or [{"id": index + 1, "file_name": f"img{index}.jpg", "height": 40, "width": 60}
                        for index in range(5)]
    document = {"images": images, "annotations": annotations,
                "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "bike"}, *extra_categories]}
    (tmp_path / "instances.json").write_text(json.dumps(document))
    if as_tar:
        with tarfile.open(tmp_path / "images.tar", "w") as archive:
            for image in images:
                content = _jpeg(image["height"], image["width"])
                info = tarfile.TarInfo(f"images/{image['file_name']}")
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    else:
        (tmp_path / "images").mkdir(exist_ok=True)
        for image in images:
            (tmp_path / "images" / image["file_name"]).write_bytes(_jpeg(image["height"], image["width"]))
    return tmp_path


def _annotation(identifier, image_id, bbox, category=1, **extra):
    return {"id": identifier, "image_id": image_id, "category_id": category, "bbox": bbox, "iscrowd": 0, **extra}


@pytest.mark.parametrize("as_tar", [False, True])
def test_coco_json_with_images_in_a_folder_or_a_tar(tmp_path, as_tar):
    annotations = [_annotation(1, 1, [6, 4, 30, 20]), _annotation(2, 5, [0, 0, 60, 40], category=3)]
    root = _coco(tmp_path, annotations, as_tar=as_tar)
    config = tiny_config(image_size=32, test_split="last:2")
    train, test, names = detection_data.load_files(root, config)
    assert names == ("person", "bike")
    assert train.names == ("img0.jpg", "img1.jpg", "img2.jpg") and test.names == ("img3.jpg", "img4.jpg")
    np.testing.assert_allclose(train.boxes[0], [[4 * 32 / 40, 6 * 32 / 60, 24 * 32 / 40, 36 * 32 / 60]])
    np.testing.assert_array_equal(test.classes[1], [1])
    np.testing.assert_array_equal(test.sizes, [[40, 60], [40, 60]])
    assert train.images.shape == (3, 32, 32, 3) and len(test.boxes[0]) == 0


@pytest.mark.parametrize("annotation, fragment", [
    (_annotation(7, 2, [10, 10, 0, 5]), r"img1.jpg: annotation id 7 has a box of zero or negative size"),
    (_annotation(8, 3, [70, 5, 10, 10]), r"img2.jpg: annotation id 8 lies outside the 60x40 image"),
    (_annotation(9, 1, [1, 1, 5, 5], category=2), r"img0.jpg: annotation id 9 has category id 2, not one of"),
    (_annotation(10, 9, [1, 1, 5, 5]), r"annotation id 10 refers to image id 9"),
])
def test_bad_coco_annotations_name_the_image_and_annotation(tmp_path, annotation, fragment):
    root = _coco(tmp_path, [annotation])
    with pytest.raises(AnnotationError, match=fragment):
        detection_data.load_files(root / "instances.json", tiny_config(test_split="last:1"))


def test_missing_image_file_and_clipped_boxes_are_reported(tmp_path, caplog):
    root = _coco(tmp_path, [_annotation(1, 1, [50, 30, 20, 20])])
    with caplog.at_level(logging.WARNING, logger="kapps.detection"):
        train, _, _ = detection_data.load_files(root, tiny_config(image_size=40, test_split="last:1"))
    assert "1 box(es) stuck out of their image and were clipped" in caplog.text and "img0.jpg" in caplog.text
    np.testing.assert_allclose(train.boxes[0], [[30, 50 * 40 / 60, 40, 40]])
    (root / "images" / "img2.jpg").unlink()
    with pytest.raises(AnnotationError, match="img2.jpg: the image file of image id 3 is missing"):
        detection_data.load_files(root, tiny_config(test_split="last:1"))


def test_test_split_by_fraction_and_by_names(tmp_path):
    root = _coco(tmp_path, [])
    train, test, _ = detection_data.load_files(root, tiny_config(test_split="0.4", seed=3))
    assert len(test) == 2 and set(train.names) | set(test.names) == {f"img{i}.jpg" for i in range(5)}
    again = detection_data.load_files(root, tiny_config(test_split="0.4", seed=3))[1]
    assert again.names == test.names
    (tmp_path / "test.txt").write_text("img1.jpg\nimg3\n")
    _, test, _ = detection_data.load_files(root, tiny_config(test_split=f"file:{tmp_path / 'test.txt'}"))
    assert test.names == ("img1.jpg", "img3.jpg")
    with pytest.raises(ConfigError, match="does not hold: img9.jpg"):
        detection_data.load_files(root, tiny_config(test_split="img9.jpg"))


def _voc(tmp_path, objects, file_name="a.jpg"):
    (tmp_path / "Annotations").mkdir(exist_ok=True)
    (tmp_path / "JPEGImages").mkdir(exist_ok=True)
    for index in range(3):
        name = f"{index}.jpg" if index else file_name
        items = "".join(f"<object><name>{label}</name><difficult>0</difficult><bndbox><xmin>{box[0]}</xmin>"
                        f"<ymin>{box[1]}</ymin><xmax>{box[2]}</xmax><ymax>{box[3]}</ymax></bndbox></object>"
                        for label, box in (objects if index == 0 else [("dog", (1, 1, 10, 10))]))
        (tmp_path / "Annotations" / f"{index}.xml").write_text(
            f"<annotation><filename>{name}</filename>{items}</annotation>")
        (tmp_path / "JPEGImages" / name).write_bytes(_jpeg(20, 30))
    return tmp_path


def test_pascal_voc_folders(tmp_path):
    root = _voc(tmp_path, [("cat", (3, 2, 12, 20)), ("dog", (1, 1, 30, 20))])
    train, test, names = detection_data.load_files(root, tiny_config(image_size=20, test_split="last:1"))
    assert names == ("cat", "dog") and len(train) == 2 and len(test) == 1
    # VOC's 1-based inclusive corners → 0-based edges, then scaled to 20×20.
    np.testing.assert_allclose(train.boxes[0], [[1, 2 * 20 / 30, 20, 12 * 20 / 30], [0, 0, 20, 20]])
    np.testing.assert_array_equal(train.classes[0], [0, 1])


def test_bad_voc_box_names_the_file(tmp_path):
    root = _voc(tmp_path, [("cat", (12, 2, 3, 20))])
    with pytest.raises(AnnotationError, match=r"a.jpg: object 0 of 0.xml has a box of zero or negative size"):
        detection_data.load_files(root, tiny_config(test_split="last:1"))


def test_too_many_boxes_keep_the_largest_and_say_so(caplog):
    labelled = detection_data.Annotated(np.zeros((1, 8, 8, 3), np.uint8),
                                        (np.array([[0, 0, 1, 1], [0, 0, 4, 4], [0, 0, 2, 2]], np.float32),),
                                        (np.array([0, 1, 2], np.int32),), ("crowded.jpg",), np.array([[8, 8]]))
    with caplog.at_level(logging.WARNING, logger="kapps.detection"):
        boxes, classes = detection_data.padded(labelled, 2, "test")
    assert "crowded.jpg" in caplog.text
    np.testing.assert_array_equal(classes, [[1, 2]])
    np.testing.assert_array_equal(boxes[0, :, 2], [4, 2])
