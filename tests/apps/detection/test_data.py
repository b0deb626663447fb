"""Builtin scenes, COCO JSON (folder or .tar of images) and Pascal VOC folders streamed from an index,
bad annotations, the pipelines' output."""

import io
import json
import logging
import re
import tarfile
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from apps.core.config import ConfigError
from apps.detection import data as detection_data
from apps.detection.builtin import CLASS_NAMES, builtin_split
from apps.detection.data import AnnotationError, splits_from_raw, unpack
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
    image = images[row : row + 1].astype(np.float32)
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
    """A JPEG of a gradient (so resizing and decoding show), brightness shifted by `value`."""
    rows, columns = np.mgrid[0:height, 0:width]
    pixels = np.stack(
        [rows * 255 // max(1, height - 1), columns * 255 // max(1, width - 1), np.full_like(rows, value)], axis=-1
    )
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _coco(tmp_path, annotations, images=None, as_tar=False, sizes=None):
    """A COCO folder: `instances.json` and its JPEGs (in `images/` or `images.tar`), each of its
    JSON size or of `sizes` (height, width)."""
    images = images or [
        {"id": index + 1, "file_name": f"img{index}.jpg", "height": 40, "width": 60} for index in range(5)
    ]
    document = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": "person"}, {"id": 3, "name": "bike"}],
    }
    (tmp_path / "instances.json").write_text(json.dumps(document))
    contents = {image["file_name"]: _jpeg(*(sizes or (image["height"], image["width"]))) for image in images}
    if as_tar:
        with tarfile.open(tmp_path / "images.tar", "w") as archive:
            for file_name, content in contents.items():
                info = tarfile.TarInfo(f"images/{file_name}")
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    else:
        (tmp_path / "images").mkdir(exist_ok=True)
        for file_name, content in contents.items():
            (tmp_path / "images" / file_name).write_bytes(content)
    return tmp_path


def _annotation(identifier, image_id, bbox, category=1, **extra):
    return {"id": identifier, "image_id": image_id, "category_id": category, "bbox": bbox, "iscrowd": 0, **extra}


def _examples(raw, split):
    """The raw examples of `split` as NumPy dicts, in order."""
    return list(raw.splits[split].as_numpy_iterator())


def _described(data):
    """`(images, boxes/classes per image, names, sizes)` of the whole streamed test split."""
    images, truths, names, sizes = [], [], [], []
    for batch_images, targets, described in data.info.test_described.as_numpy_iterator():
        images.append(batch_images)
        truths += unpack(targets)
        names += [name.decode() for name in described["name"]]
        sizes += described["size"].tolist()
    return np.concatenate(images), truths, names, sizes


@pytest.mark.parametrize("as_tar", [False, True])
def test_coco_json_with_images_in_a_folder_or_a_tar(tmp_path, as_tar):
    annotations = [_annotation(1, 1, [6, 4, 30, 20]), _annotation(2, 5, [0, 0, 60, 40], category=3)]
    root = _coco(tmp_path, annotations, as_tar=as_tar)
    config = tiny_config(image_size=32, test_split="last:2", validation_fraction=0.0)
    raw = detection_data.load_files(root, config)
    assert raw.class_names == ("person", "bike") and raw.counts == {"train": 3, "validation": 0, "test": 2}
    train = sorted(_examples(raw, "train"), key=lambda example: example["name"])  # reshuffled each epoch
    assert [example["name"] for example in train] == [b"img0.jpg", b"img1.jpg", b"img2.jpg"]
    np.testing.assert_allclose(train[0]["boxes"], [[4, 6, 24, 36]])  # original pixels
    assert train[0]["image"] == _jpeg(40, 60)  # the file's bytes, not decoded
    data = splits_from_raw(raw, config)
    images, truths, names, sizes = _described(data)
    assert names == ["img3.jpg", "img4.jpg"] and sizes == [[40, 60], [40, 60]] and images.shape == (2, 32, 32, 3)
    assert len(truths[0][0]) == 0
    np.testing.assert_allclose(truths[1][0], [[0, 0, 32, 32]])
    np.testing.assert_array_equal(truths[1][1], [1])


def test_pipelines_decode_and_resize_as_before_and_keep_the_format(tmp_path):
    """What the loaders did before streaming (PIL decoding, Keras' antialiased resize rounded to
    uint8, boxes scaled with it) is what the pipelines give, batched as `(float32 images, [batch,
    max_boxes, 5] targets)`."""
    images = [
        {"id": index + 1, "file_name": f"img{index}.jpg", "height": 30 + 7 * index, "width": 50 - 5 * index}
        for index in range(5)
    ]
    annotations = [
        _annotation(index + 1, index + 1, [3, 2, 20, 15 + index], category=(1, 3)[index % 2]) for index in range(5)
    ]
    root = _coco(tmp_path, annotations, images=images)
    config = tiny_config(image_size=24, test_split="last:3", batch_size=2, max_boxes=4)
    data = splits_from_raw(detection_data.load_files(root, config), config)
    batches = list(data.test.as_numpy_iterator())
    assert [batch[0].shape for batch in batches] == [(2, 24, 24, 3), (1, 24, 24, 3)]
    assert all(batch[0].dtype == np.float32 and batch[1].shape[1:] == (4, 5) for batch in batches)
    streamed = np.concatenate([batch[0] for batch in batches])
    for row, image in enumerate(images[2:]):
        with Image.open(root / "images" / image["file_name"]) as opened:
            pixels = np.asarray(opened.convert("RGB"))
        expected = tf.image.resize(pixels, (24, 24), antialias=True)
        np.testing.assert_array_equal(streamed[row], tf.round(tf.clip_by_value(expected, 0, 255)).numpy())
        scale = np.array([24 / image["height"], 24 / image["width"]] * 2)
        x, y, width, height = annotations[row + 2]["bbox"]
        ((boxes, classes),) = unpack(np.concatenate([batch[1] for batch in batches])[row : row + 1])
        np.testing.assert_allclose(boxes, [np.array([y, x, y + height, x + width]) * scale], rtol=1e-6)
        np.testing.assert_array_equal(classes, [(0, 1)[(row + 2) % 2]])


def test_a_few_hundred_images_are_indexed_without_opening_one(tmp_path, monkeypatch):
    """Loading reads the annotations only; an image is read and decoded when the pipeline reaches
    it: a corrupt file fails there, naming it, while a missing one fails the loading."""
    count = 300
    images = [{"id": index + 1, "file_name": f"img{index:03d}.jpg", "height": 8, "width": 8} for index in range(count)]
    root = _coco(tmp_path, [_annotation(index + 1, index + 1, [1, 1, 4, 4]) for index in range(count)], images=images)
    (root / "images" / "img150.jpg").write_bytes(b"not an image at all")
    monkeypatch.setattr(Image, "open", lambda *_: pytest.fail("the loader opened an image"))
    config = tiny_config(
        image_size=8, test_split="0.5", validation_fraction=0.0, batch_size=50, augment=False, max_examples=0
    )
    started = time.perf_counter()
    raw = detection_data.load_files(root, config)
    assert time.perf_counter() - started < 5 and raw.counts["test"] + raw.counts["train"] == count
    data = splits_from_raw(raw, config)
    split = "test" if "img150.jpg" in {example["name"].decode() for example in _examples(raw, "test")} else "train"
    with pytest.raises(tf.errors.InvalidArgumentError, match="img150.jpg: not a PNG, JPEG, GIF or BMP image"):
        for _ in getattr(data, split):
            pass
    (root / "images" / "img151.jpg").unlink()
    with pytest.raises(AnnotationError, match="img151.jpg: the image file of image id 152 is missing"):
        detection_data.load_files(root, config)


def test_an_image_whose_size_disagrees_with_the_json_fails_when_decoded_naming_it(tmp_path):
    root = _coco(tmp_path, [_annotation(1, 1, [1, 1, 5, 5])])
    (root / "images" / "img4.jpg").write_bytes(_jpeg(30, 20))
    config = tiny_config(test_split="last:1")
    data = splits_from_raw(detection_data.load_files(root, config), config)
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="img4.jpg: the annotations say 60x40 pixels, the file holds 20x30"
    ):
        list(data.test)


def test_sizes_missing_from_the_json_are_read_from_the_image_headers(tmp_path):
    images = [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}]
    root = _coco(tmp_path, [_annotation(1, 1, [0, 0, 100, 100])], images=images, as_tar=True, sizes=(20, 30))
    raw = detection_data.load_files(root, tiny_config(test_split="last:1", validation_fraction=0.0))
    (train,) = _examples(raw, "train")
    np.testing.assert_array_equal(train["size"], [20, 30])
    np.testing.assert_allclose(train["boxes"], [[0, 0, 20, 30]])  # clipped to the header's size


@pytest.mark.parametrize("annotations", [None, [], [_annotation(1, 1, [1, 1, 5, 5], iscrowd=1)]])
def test_a_coco_json_without_annotations_is_refused_naming_it(tmp_path, annotations):
    root = _coco(tmp_path, annotations or [])
    if annotations is None:  # COCO's image_info_test2017.json: images, categories, no `annotations`
        document = json.loads((root / "instances.json").read_text())
        del document["annotations"]
        (root / "instances.json").write_text(json.dumps(document))
    with pytest.raises(AnnotationError, match=r"instances.json: holds no annotations \(an unlabelled split"):
        detection_data.load_files(root, tiny_config(test_split="last:1"))


@pytest.mark.parametrize(
    "annotation, fragment",
    [
        (_annotation(7, 2, [10, 10, 0, 5]), r"img1.jpg: annotation id 7 has a box of zero or negative size"),
        (_annotation(8, 3, [70, 5, 10, 10]), r"img2.jpg: annotation id 8 lies outside the 60x40 image"),
        (_annotation(9, 1, [1, 1, 5, 5], category=2), r"img0.jpg: annotation id 9 has category id 2, not one of"),
        (_annotation(10, 9, [1, 1, 5, 5]), r"annotation id 10 refers to image id 9"),
    ],
)
def test_bad_coco_annotations_name_the_image_and_annotation(tmp_path, annotation, fragment):
    root = _coco(tmp_path, [annotation])
    with pytest.raises(AnnotationError, match=fragment):
        detection_data.load_files(root / "instances.json", tiny_config(test_split="last:1"))


def test_missing_image_file_and_clipped_boxes_are_reported(tmp_path, caplog):
    root = _coco(tmp_path, [_annotation(1, 1, [50, 30, 20, 20])])
    config = tiny_config(image_size=40, test_split="last:1", validation_fraction=0.0)
    with caplog.at_level(logging.WARNING, logger="kapps.detection"):
        raw = detection_data.load_files(root, config)
    assert "1 box(es) stuck out of their image and were clipped" in caplog.text and "img0.jpg" in caplog.text
    first = next(example for example in _examples(raw, "train") if example["name"] == b"img0.jpg")
    np.testing.assert_allclose(first["boxes"], [[30, 50, 40, 60]])
    (root / "images" / "img2.jpg").unlink()
    with pytest.raises(AnnotationError, match="img2.jpg: the image file of image id 3 is missing"):
        detection_data.load_files(root, tiny_config(test_split="last:1"))


def test_test_split_by_fraction_and_by_names(tmp_path):
    root = _coco(tmp_path, [_annotation(1, 1, [1, 1, 5, 5])])

    def test_names(config):
        return [example["name"].decode() for example in _examples(detection_data.load_files(root, config), "test")]

    names = test_names(tiny_config(test_split="0.4", seed=3, validation_fraction=0.0))
    raw = detection_data.load_files(root, tiny_config(test_split="0.4", seed=3, validation_fraction=0.0))
    assert len(names) == 2 and raw.counts == {"train": 3, "validation": 0, "test": 2}
    assert test_names(tiny_config(test_split="0.4", seed=3)) == names
    (tmp_path / "test.txt").write_text("img1.jpg\nimg3\n")
    assert test_names(tiny_config(test_split=f"file:{tmp_path / 'test.txt'}")) == ["img1.jpg", "img3.jpg"]
    with pytest.raises(ConfigError, match="does not hold: img9.jpg"):
        detection_data.load_files(root, tiny_config(test_split="img9.jpg"))


def test_validation_is_held_out_of_the_index_by_seed(tmp_path):
    root = _coco(
        tmp_path,
        [_annotation(1, 1, [1, 1, 5, 5])],
        images=[{"id": index + 1, "file_name": f"img{index}.jpg", "height": 8, "width": 8} for index in range(20)],
    )

    def held(seed):
        raw = detection_data.load_files(root, tiny_config(test_split="last:4", validation_fraction=0.25, seed=seed))
        assert raw.counts == {"train": 12, "validation": 4, "test": 4}
        return {example["name"] for example in _examples(raw, "validation")}

    assert held(1) == held(1) != held(2)


def _voc(tmp_path, objects, file_name="a.jpg", sizes=True):
    (tmp_path / "Annotations").mkdir(exist_ok=True)
    (tmp_path / "JPEGImages").mkdir(exist_ok=True)
    for index in range(3):
        name = f"{index}.jpg" if index else file_name
        items = "".join(
            f"<object><name>{label}</name><difficult>0</difficult><bndbox><xmin>{box[0]}</xmin>"
            f"<ymin>{box[1]}</ymin><xmax>{box[2]}</xmax><ymax>{box[3]}</ymax></bndbox></object>"
            for label, box in (objects if index == 0 else [("dog", (1, 1, 10, 10))])
        )
        size = "<size><width>30</width><height>20</height><depth>3</depth></size>" if sizes else ""
        (tmp_path / "Annotations" / f"{index}.xml").write_text(
            f"<annotation><filename>{name}</filename>{size}{items}</annotation>"
        )
        (tmp_path / "JPEGImages" / name).write_bytes(_jpeg(20, 30))
    return tmp_path


@pytest.mark.parametrize("sizes", [True, False])
def test_pascal_voc_folders(tmp_path, sizes):
    root = _voc(tmp_path, [("cat", (3, 2, 12, 20)), ("dog", (1, 1, 30, 20))], sizes=sizes)
    config = tiny_config(image_size=20, test_split="last:1", validation_fraction=0.0)
    raw = detection_data.load_files(root, config)
    assert raw.class_names == ("cat", "dog") and raw.counts == {"train": 2, "validation": 0, "test": 1}
    first = next(example for example in _examples(raw, "train") if example["name"] == b"a.jpg")
    # VOC's 1-based inclusive corners → 0-based edges, in the image's own pixels.
    np.testing.assert_allclose(first["boxes"], [[1, 2, 20, 12], [0, 0, 20, 30]])
    np.testing.assert_array_equal(first["classes"], [0, 1])
    np.testing.assert_array_equal(first["size"], [20, 30])


def test_bad_voc_box_names_the_file(tmp_path):
    root = _voc(tmp_path, [("cat", (12, 2, 3, 20))])
    with pytest.raises(AnnotationError, match=r"a.jpg: object 0 of 0.xml has a box of zero or negative size"):
        detection_data.load_files(root, tiny_config(test_split="last:1"))


def test_too_many_boxes_keep_the_largest_and_say_so(tmp_path, caplog):
    boxes, classes = detection_data.largest_boxes(
        tf.constant([[0, 0, 1, 1], [0, 0, 4, 4], [0, 0, 2, 2]], tf.float32), tf.constant([0, 1, 2], tf.int64), 2
    )
    np.testing.assert_array_equal(classes, [1, 2])
    np.testing.assert_array_equal(boxes.numpy()[:, 2], [4, 2])
    boxes, classes = detection_data.largest_boxes(tf.zeros([0, 4]), tf.zeros([0], tf.int64), 2)
    np.testing.assert_array_equal(classes, [-1, -1])
    np.testing.assert_array_equal(boxes, np.zeros((2, 4)))
    root = _coco(tmp_path, [_annotation(index, 1, [index, 0, 5, 5]) for index in range(1, 4)])
    with caplog.at_level(logging.WARNING, logger="kapps.detection"):
        detection_data.load_files(root, tiny_config(test_split="last:1", max_boxes=2))
    assert "1 image(s) hold more than --max-boxes 2 boxes" in caplog.text and "img0.jpg" in caplog.text


class _FakeTfds:
    """A TFDS detection dataset as `load_tfds(..., decoders=SkipDecoding)` gives it: encoded
    20×30 JPEGs, relative boxes, labels and COCO's `is_crowd`; its `test` split labelled or not."""

    counts = {"train": 10, "validation": 4, "test": 3}

    def __init__(self, test_labelled):
        self.test_labelled = test_labelled
        self.requested = []
        self.info = type(
            "Info",
            (),
            {
                "splits": {name: type("Split", (), {"num_examples": count}) for name, count in self.counts.items()},
                "features": {"objects": {"label": type("Label", (), {"names": ["cat", "dog"]})}},
            },
        )

    def load(self, name, split, *, as_supervised, decoders):
        assert name == "coco/2017" and not as_supervised and set(decoders) == {"image"}
        self.requested.append(split)
        count = sum(
            int(end or self.counts[part]) - int(start or 0) if bracket else self.counts[part]
            for part, bracket, start, end in re.findall(r"(\w+)(\[(\d*):(\d*)\])?", split)
        )
        labelled = split != "test" or self.test_labelled

        def examples():
            for index in range(count):
                objects = 2 if labelled else 0
                yield {
                    "image": _jpeg(20, 30),
                    "image/filename": f"{split}-{index}.jpg",
                    "objects": {
                        "bbox": np.tile([[0.5, 0.0, 1.0, 0.5]], (objects, 1)).astype(np.float32),
                        "label": np.arange(objects, dtype=np.int64) % 2,
                        "is_crowd": np.array([False, True][:objects]),
                    },
                }

        return tf.data.Dataset.from_generator(
            examples,
            output_signature={
                "image": tf.TensorSpec([], tf.string),
                "image/filename": tf.TensorSpec([], tf.string),
                "objects": {
                    "bbox": tf.TensorSpec([None, 4], tf.float32),
                    "label": tf.TensorSpec([None], tf.int64),
                    "is_crowd": tf.TensorSpec([None], tf.bool),
                },
            },
        )


@pytest.mark.parametrize("test_labelled", [False, True])
def test_tfds_streams_encoded_images_and_scores_only_a_labelled_split(monkeypatch, test_labelled):
    """COCO 2017's `test` split has no labels: the loader scores on `validation` and trains on
    `train`; a labelled `test` (VOC 2007's) scores, `train` and `validation` train. The hold-out is
    the last `validation_fraction` of each training split; crowd boxes are left out."""
    import tensorflow_datasets as tfds

    fake = _FakeTfds(test_labelled)
    monkeypatch.setattr(tfds, "builder", lambda name, **_: fake)
    monkeypatch.setattr(detection_data, "load_tfds", fake.load)
    config = tiny_config(max_examples=0, validation_fraction=0.1, image_size=10)
    raw = detection_data.load_tfds_detection("coco/2017", config)
    if test_labelled:
        assert raw.counts == {"train": 13, "validation": 1, "test": 3}
        assert set(fake.requested) == {"train", "test", "train[:9]+validation[:4]", "train[9:10]"}
    else:
        assert raw.counts == {"train": 9, "validation": 1, "test": 4}
        assert set(fake.requested) == {"train", "test", "train[:9]", "train[9:10]", "validation"}
    (example,) = list(raw.splits["test"].take(1).as_numpy_iterator())
    assert example["image"] == _jpeg(20, 30) and list(example["size"]) == [20, 30]
    np.testing.assert_allclose(example["boxes"], [[10, 0, 20, 15]])  # the crowd box left out
    data = splits_from_raw(raw, config)
    assert raw.class_names == data.class_names == ("cat", "dog") and data.test_examples == raw.counts["test"]
    images, truths, _, sizes = _described(data)
    assert images.shape == (raw.counts["test"], 10, 10, 3) and sizes[0] == [20, 30]
    np.testing.assert_allclose(truths[0][0], [[5, 0, 10, 5]])


def test_decoded_images_are_cached_within_one_budget_and_never_for_the_test_split():
    config = tiny_config(image_size=100, max_boxes=10)  # 30,456 bytes a decoded example
    per_example = detection_data.decoded_bytes(config)
    budget = detection_data.DECODED_CACHE_BYTES
    small = detection_data.cache_room({"train": 100, "validation": 10, "test": 50}, config)
    assert small == {"train": budget, "validation": budget - 100 * per_example}
    big = detection_data.cache_room({"train": budget // per_example + 1, "validation": 10}, config)
    assert big == {"train": budget, "validation": budget}  # the training split did not fit: nothing spent


@pytest.mark.parametrize("cache_bytes", [0, 2**30])
def test_every_training_image_comes_once_an_epoch_cached_or_streamed(tmp_path, monkeypatch, cache_bytes):
    monkeypatch.setattr(detection_data, "DECODED_CACHE_BYTES", cache_bytes)
    images = [{"id": index + 1, "file_name": f"img{index:02d}.jpg", "height": 8, "width": 8} for index in range(30)]
    root = _coco(
        tmp_path,
        [_annotation(index + 1, index + 1, [0, 0, 1 + index % 7, 1 + index // 7]) for index in range(30)],
        images=images,
    )
    config = tiny_config(image_size=8, test_split="last:5", validation_fraction=0.2, max_examples=0, batch_size=4)
    data = splits_from_raw(detection_data.load_files(root, config), config.replace(augment=False))
    assert (data.train_examples, data.validation_examples) == (20, 5)
    epochs = [
        [tuple(boxes[0]) for _, targets in data.train.as_numpy_iterator() for boxes, _ in unpack(targets)]
        for _ in range(2)
    ]
    assert len(epochs[0]) == 20 and sorted(epochs[0]) == sorted(epochs[1]) and epochs[0] != epochs[1]


def test_coco_own_layout_annotations_beside_the_image_folder(tmp_path):
    """`coco/annotations/instances_val2017.json` with its images in `coco/val2017/`, as cocodataset.org ships them."""
    _coco(tmp_path, [_annotation(1, 1, [1, 1, 5, 5])])
    (tmp_path / "annotations").mkdir()
    (tmp_path / "instances.json").rename(tmp_path / "annotations" / "instances_val2017.json")
    (tmp_path / "images").rename(tmp_path / "val2017")
    raw = detection_data.load_files(tmp_path, tiny_config(test_split="last:1", validation_fraction=0.0))
    assert raw.counts == {"train": 4, "validation": 0, "test": 1}
    (example,) = _examples(raw, "test")
    assert example["name"] == b"img4.jpg" and example["image"] == (tmp_path / "val2017" / "img4.jpg").read_bytes()
