"""Detection data: TFDS (`voc/2007`, `coco/2017`), local files (COCO instances JSON with a folder
or `.tar` of images, Pascal VOC folders) or generated scenes; images resized to the network's
square and boxes with them.

Every source gives `Annotated` train and test sets: uint8 images at `config.image_size`,
and per image its boxes (pixel edges `[ymin, xmin, ymax, xmax]` at that size), class ids,
name and original `(height, width)`. Bad annotations stop the loading with an error
naming the image and the annotation (zero or negative size, a box wholly outside its
image, an unknown category, a missing image file); boxes that stick out of their image
are clipped to it, as COCO and VOC tools do, and the log says how many and where.

Pipelines yield `(images float32 [batch, size, size, 3] 0-255, targets float32 [batch,
max_boxes, 5])`: each target row is a box and its class id + 1, rows of zeros pad (so
any re-batching that pads with zeros keeps the meaning).
"""

import dataclasses
import json
import logging
import tarfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.core.augment import GeometricAugmentation, geometric_layers
from apps.core.config import ConfigError
from apps.core.data import DataSourceError, DataSplits, batched_pipeline, load_tfds
from apps.detection.builtin import CLASS_NAMES as BUILTIN_CLASS_NAMES
from apps.detection.builtin import builtin_split
from apps.detection.config import parse_test_split

LOG = logging.getLogger("kapps.detection")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
IMAGE_FOLDERS = ("images", "JPEGImages", "train2017", "val2017", ".")
BOX_FORMAT = "yxyx"  # pixel edges at the network's size, in the pipelines


class AnnotationError(DataSourceError):
    """An annotation that cannot be used; the message names the image and the annotation."""


@dataclasses.dataclass
class Annotated:
    """Images at the network's size with their boxes and classes, and where each came from."""

    images: np.ndarray  # uint8 [n, size, size, 3]
    boxes: tuple  # per image float32 [k, 4]: ymin, xmin, ymax, xmax in pixels at `size`
    classes: tuple  # per image int32 [k]
    names: tuple  # image names, for error messages, splits and plots
    sizes: np.ndarray  # int32 [n, 2]: each image's original (height, width)

    def __len__(self):
        return len(self.images)

    def take(self, indices):
        indices = list(indices)
        return Annotated(self.images[indices] if indices else self.images[:0],
                         tuple(self.boxes[i] for i in indices), tuple(self.classes[i] for i in indices),
                         tuple(self.names[i] for i in indices), self.sizes[indices] if indices else self.sizes[:0])


def as_rgb(image):
    """uint8 `[h, w]`, `[h, w, 1|3|4]` → `[h, w, 3]` (alpha dropped)."""
    image = np.asarray(image, np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]


def resized(image, size):
    """uint8 `[h, w, 3]` → `[size, size, 3]` (stretched, antialiased as the serving signatures do)."""
    if image.shape[:2] == (size, size):
        return image
    result = tf.image.resize(image, (size, size), antialias=True)
    return tf.cast(tf.round(tf.clip_by_value(result, 0, 255)), tf.uint8).numpy()


class Clipping:
    """Counts the boxes clipped to their image, and logs them once per source."""

    def __init__(self, source):
        self.source = source
        self.where = []

    def note(self, image_name, annotation):
        self.where.append(f"{image_name} ({annotation})")

    def report(self):
        if self.where:
            shown = ", ".join(self.where[:5]) + (" ..." if len(self.where) > 5 else "")
            LOG.warning("%s: %d box(es) stuck out of their image and were clipped to it: %s",
                        self.source, len(self.where), shown)


def checked_box(box, height, width, image_name, annotation, clipping):
    """A pixel box `[ymin, xmin, ymax, xmax]` of an image of `height` × `width`, clipped to the
    image; `AnnotationError` when its size is zero or negative or it lies wholly outside."""
    ymin, xmin, ymax, xmax = (float(value) for value in box)
    if not all(np.isfinite([ymin, xmin, ymax, xmax])) or ymax <= ymin or xmax <= xmin:
        raise AnnotationError(f"{image_name}: {annotation} has a box of zero or negative size "
                              f"(ymin {ymin:g}, xmin {xmin:g}, ymax {ymax:g}, xmax {xmax:g}).")
    clipped = [min(max(ymin, 0.0), height), min(max(xmin, 0.0), width),
               min(max(ymax, 0.0), height), min(max(xmax, 0.0), width)]
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise AnnotationError(f"{image_name}: {annotation} lies outside the {width}x{height} image "
                              f"(ymin {ymin:g}, xmin {xmin:g}, ymax {ymax:g}, xmax {xmax:g}).")
    if clipped != [ymin, xmin, ymax, xmax]:
        clipping.note(image_name, annotation)
    return clipped


def annotated(examples, size, source):
    """`Annotated` from `(name, image uint8 [h, w, c], boxes [k, 4] pixels, classes [k])` items."""
    images, boxes, classes, names, sizes = [], [], [], [], []
    for name, image, image_boxes, image_classes in examples:
        image = as_rgb(image)
        height, width = image.shape[:2]
        scale = np.array([size / height, size / width, size / height, size / width], np.float32)
        images.append(resized(image, size))
        boxes.append(np.asarray(image_boxes, np.float32).reshape(-1, 4) * scale)
        classes.append(np.asarray(image_classes, np.int32).reshape(-1))
        names.append(name)
        sizes.append((height, width))
    if not images:
        raise DataSourceError(f"{source}: no images found.")
    return Annotated(np.stack(images), tuple(boxes), tuple(classes), tuple(names), np.array(sizes, np.int32))


# ----- test split -------------------------------------------------------------------------
def split_test(items, config, source):
    """`(train, test)` lists of `items` (each with its name first), by `config.test_split`."""
    kind, value = parse_test_split(config.test_split)
    names = [item[0] for item in items]
    if kind == "fraction":
        order = np.random.default_rng(config.seed).permutation(len(items))
        chosen = set(order[:max(1, int(round(len(items) * value)))].tolist())
    elif kind == "last":
        if value >= len(items):
            raise ConfigError(f"--test-split last:{value} leaves no training images out of {len(items)} in {source}.")
        by_name = sorted(range(len(items)), key=lambda index: names[index])
        chosen = set(by_name[-value:])
    else:
        wanted = value if kind == "names" else _names_in_file(value)
        lookup = {}
        for index, name in enumerate(names):
            lookup.setdefault(name, index)
            lookup.setdefault(Path(name).stem, index)
        missing = [name for name in wanted if name not in lookup]
        if missing:
            raise ConfigError(f"--test-split names image(s) that {source} does not hold: {', '.join(missing[:5])}.")
        chosen = {lookup[name] for name in wanted}
    train = [item for index, item in enumerate(items) if index not in chosen]
    test = [item for index, item in enumerate(items) if index in chosen]
    if not train:
        raise ConfigError(f"--test-split {config.test_split} leaves no training images in {source}.")
    return train, test


def _names_in_file(path):
    if not Path(path).is_file():
        raise ConfigError(f"--test-split file:{path}: no such file.")
    return tuple(line.strip() for line in Path(path).read_text().splitlines() if line.strip())


# ----- COCO instances JSON -----------------------------------------------------------------
class ImageStore:
    """Reads image files by name from a folder or a `.tar` of them."""

    def __init__(self, root, wanted):
        self.root = Path(root)
        self.tar = None
        self.members = {}
        tars = sorted(self.root.glob("*.tar"))
        for path in tars:
            with tarfile.open(path) as archive:
                members = {Path(member.name).name: member.name for member in archive.getmembers() if member.isfile()}
            if any(Path(name).name in members for name in wanted):
                self.tar, self.members = tarfile.open(path), members
                break
        self.folders = [self.root / name for name in IMAGE_FOLDERS if (self.root / name).is_dir()]

    def read(self, file_name, reference):
        from PIL import Image

        if self.tar is not None and Path(file_name).name in self.members:
            handle = self.tar.extractfile(self.members[Path(file_name).name])
            with Image.open(handle) as image:
                return np.asarray(image.convert("RGB"))
        for folder in self.folders:
            for candidate in (folder / file_name, folder / Path(file_name).name):
                if candidate.is_file():
                    with Image.open(candidate) as image:
                        return np.asarray(image.convert("RGB"))
        where = f"{self.root} (its folders {', '.join(str(f) for f in self.folders)}" + (
            f" and {self.tar.name})" if self.tar is not None else ")")
        raise AnnotationError(f"{file_name}: the image file of {reference} is missing from {where}.")

    def close(self):
        if self.tar is not None:
            self.tar.close()


def parse_coco(document, source):
    """`(class_names, [(file_name, image record, boxes [k, 4] pixels, category index [k])])`
    from a COCO instances document, images in file-name order; crowd annotations are left out
    (COCO evaluation ignores them) and counted in the log."""
    categories = sorted(document.get("categories", []), key=lambda category: category["id"])
    if not categories:
        raise AnnotationError(f"{source}: the JSON has no `categories`.")
    index_of = {category["id"]: index for index, category in enumerate(categories)}
    images = {image["id"]: image for image in document.get("images", [])}
    per_image = {image_id: [] for image_id in images}
    crowd = 0
    for annotation in document.get("annotations", []):
        reference = f"annotation id {annotation.get('id')}"
        image = images.get(annotation.get("image_id"))
        if image is None:
            raise AnnotationError(f"{source}: {reference} refers to image id {annotation.get('image_id')}, "
                                  "which is not in `images`.")
        if annotation.get("category_id") not in index_of:
            raise AnnotationError(f"{image['file_name']}: {reference} has category id {annotation.get('category_id')}"
                                  f", not one of the categories {sorted(index_of)}.")
        if annotation.get("iscrowd", 0):
            crowd += 1
            continue
        per_image[image["id"]].append(annotation)
    if crowd:
        LOG.warning("%s: %d crowd annotation(s) (iscrowd=1) left out of training and evaluation.", source, crowd)
    records = []
    for image_id, image in sorted(images.items(), key=lambda item: item[1]["file_name"]):
        annotations = per_image[image_id]
        records.append((image["file_name"], image, annotations))
    return tuple(category["name"] for category in categories), index_of, records


def load_coco(json_path, config):
    """`(train, test, class_names)` from a COCO instances JSON and its images (a folder beside it,
    or a `.tar` of them), split by `--test-split`."""
    source = str(json_path)
    document = json.loads(Path(json_path).read_text())
    class_names, index_of, records = parse_coco(document, source)
    store = ImageStore(Path(json_path).parent, [record[0] for record in records])
    clipping = Clipping(source)

    def examples(chosen):
        for file_name, image_record, annotations in chosen:
            pixels = store.read(file_name, f"image id {image_record['id']}")
            height, width = pixels.shape[:2]
            if (image_record.get("height", height), image_record.get("width", width)) != (height, width):
                raise AnnotationError(f"{file_name}: the JSON says {image_record.get('width')}x"
                                      f"{image_record.get('height')} pixels, the file holds {width}x{height}.")
            boxes = []
            for annotation in annotations:
                x, y, box_width, box_height = annotation["bbox"]
                boxes.append(checked_box((y, x, y + box_height, x + box_width), height, width, file_name,
                                         f"annotation id {annotation.get('id')}", clipping))
            classes = [index_of[annotation["category_id"]] for annotation in annotations]
            yield file_name, pixels, boxes, classes

    try:
        train, test = split_test(records, config, source)
        result = (annotated(examples(train), config.image_size, source),
                  annotated(examples(test), config.image_size, source), class_names)
    finally:
        store.close()
    clipping.report()
    return result


# ----- Pascal VOC folders ------------------------------------------------------------------
def parse_voc_xml(path):
    """`(file_name, [(name, difficult, [ymin, xmin, ymax, xmax] pixel edges)])` of one VOC
    annotation (VOC's 1-based inclusive corners become 0-based edges)."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise AnnotationError(f"{path}: not a readable VOC annotation ({error}).") from None
    file_name = root.findtext("filename") or f"{Path(path).stem}.jpg"
    objects = []
    for index, item in enumerate(root.findall("object")):
        box = item.find("bndbox")
        if box is None:
            raise AnnotationError(f"{path}: object {index} has no <bndbox>.")
        try:
            xmin, ymin, xmax, ymax = (float(box.findtext(key)) for key in ("xmin", "ymin", "xmax", "ymax"))
        except (TypeError, ValueError):
            raise AnnotationError(f"{path}: object {index} has a <bndbox> without numeric xmin/ymin/xmax/ymax.") \
                from None
        objects.append(((item.findtext("name") or "").strip(), item.findtext("difficult") == "1",
                        [ymin - 1, xmin - 1, ymax, xmax]))
    return file_name, objects


def load_voc(root, config):
    """`(train, test, class_names)` from `Annotations/*.xml` + `JPEGImages/`, split by
    `ImageSets/Main/trainval.txt` and `test.txt` when present, else by `--test-split`."""
    root = Path(root)
    annotations = sorted((root / "Annotations").glob("*.xml"))
    if not annotations:
        raise DataSourceError(f"{root / 'Annotations'} holds no .xml files.")
    parsed = [(path.stem, path, *parse_voc_xml(path)) for path in annotations]
    names = sorted({name for _, _, _, objects in parsed for name, _, _ in objects})
    class_names = tuple(config.class_names) or tuple(names)
    index_of = {name: index for index, name in enumerate(class_names)}
    source = str(root)
    clipping = Clipping(source)

    def examples(chosen):
        for stem, xml_path, file_name, objects in chosen:
            image_path = root / "JPEGImages" / file_name
            if not image_path.is_file():
                raise AnnotationError(f"{file_name}: the image of {xml_path} is missing from {root / 'JPEGImages'}.")
            from PIL import Image

            with Image.open(image_path) as image:
                pixels = np.asarray(image.convert("RGB"))
            height, width = pixels.shape[:2]
            boxes, classes = [], []
            for index, (name, _, box) in enumerate(objects):
                if name not in index_of:
                    raise AnnotationError(f"{file_name}: object {index} of {xml_path} is a {name!r}, not one of the "
                                          f"classes {', '.join(class_names)}.")
                boxes.append(checked_box(box, height, width, file_name, f"object {index} of {xml_path.name}", clipping))
                classes.append(index_of[name])
            yield file_name, pixels, boxes, classes

    lists = root / "ImageSets" / "Main"
    if (lists / "test.txt").is_file() and ((lists / "trainval.txt").is_file() or (lists / "train.txt").is_file()):
        read = lambda path: {line.split()[0] for line in path.read_text().splitlines() if line.strip()}  # noqa: E731
        train_names = read(lists / "trainval.txt") if (lists / "trainval.txt").is_file() else read(lists / "train.txt")
        test_names = read(lists / "test.txt")
        train = [item for item in parsed if item[0] in train_names]
        test = [item for item in parsed if item[0] in test_names]
    else:
        train, test = split_test(parsed, config, source)
    result = (annotated(examples(train), config.image_size, source),
              annotated(examples(test), config.image_size, source), class_names)
    clipping.report()
    return result


def load_files(path, config):
    """`(train, test, class_names)` from a COCO JSON (or a folder holding one) or a VOC folder."""
    path = Path(path)
    if not path.exists():
        raise DataSourceError(f"{path} does not exist. Give a COCO instances .json (images beside it, in a folder "
                              "or a .tar) or a Pascal VOC folder (Annotations/ and JPEGImages/).")
    if path.is_file():
        if path.suffix != ".json":
            raise DataSourceError(f"{path}: expected a COCO instances .json or a folder.")
        return load_coco(path, config)
    if (path / "Annotations").is_dir():
        return load_voc(path, config)
    documents = sorted(path.glob("*.json")) or sorted((path / "annotations").glob("instances_*.json"))
    if len(documents) != 1:
        found = ", ".join(document.name for document in documents) or "none"
        raise DataSourceError(f"{path}: expected one COCO instances .json (found {found}) or a Pascal VOC folder "
                              "(Annotations/ and JPEGImages/); name the .json in --data files:PATH.")
    return load_coco(documents[0], config)


# ----- TFDS --------------------------------------------------------------------------------
def load_tfds_detection(name, config):
    """`(train, test, class_names)` from a TFDS detection dataset with `objects/bbox` (relative
    `[ymin, xmin, ymax, xmax]`) and `objects/label` (`voc/2007`, `coco/2017`): its `test`
    split tests (`validation` where there is none), the other splits train."""
    import tensorflow_datasets as tfds

    builder = tfds.builder(name)
    splits = list(builder.info.splits) if builder.info.splits else ["train", "validation", "test"]
    test_split = "test" if "test" in splits else "validation"
    train_splits = [split for split in ("train", "validation") if split in splits and split != test_split]
    class_names = tuple(builder.info.features["objects"]["label"].names)

    def examples(split):
        for index, example in enumerate(load_tfds(name, split, as_supervised=False).as_numpy_iterator()):
            image = as_rgb(example["image"])
            height, width = image.shape[:2]
            boxes = np.asarray(example["objects"]["bbox"], np.float32).reshape(-1, 4) * [height, width, height, width]
            yield f"tfds:{name}/{split}[{index}]", image, boxes, example["objects"]["label"]

    train_items = (item for split in train_splits for item in examples(split))
    return (annotated(train_items, config.image_size, f"tfds:{name}"),
            annotated(examples(test_split), config.image_size, f"tfds:{name}"), class_names)


def load_builtin(config):
    sets = []
    for split in ("train", "test"):
        images, boxes, classes = builtin_split(split, config.image_size)
        sets.append(Annotated(images, boxes, classes, tuple(f"builtin/{split}[{i}]" for i in range(len(images))),
                              np.full((len(images), 2), config.image_size, np.int32)))
    return sets[0], sets[1], BUILTIN_CLASS_NAMES


# ----- pipelines ---------------------------------------------------------------------------
def padded(labelled, max_boxes, source):
    """`(boxes [n, max_boxes, 4], classes [n, max_boxes])`, padded with zeros and class -1; an
    image with more boxes keeps its `max_boxes` largest (logged)."""
    boxes = np.zeros((len(labelled), max_boxes, 4), np.float32)
    classes = np.full((len(labelled), max_boxes), -1, np.int32)
    cut = []
    for row, (image_boxes, image_classes) in enumerate(zip(labelled.boxes, labelled.classes)):
        if len(image_boxes) > max_boxes:
            areas = (image_boxes[:, 2] - image_boxes[:, 0]) * (image_boxes[:, 3] - image_boxes[:, 1])
            keep = np.sort(np.argsort(-areas, kind="stable")[:max_boxes])
            image_boxes, image_classes = image_boxes[keep], image_classes[keep]
            cut.append(labelled.names[row])
        boxes[row, :len(image_boxes)] = image_boxes
        classes[row, :len(image_classes)] = image_classes
    if cut:
        LOG.warning("%s: %d image(s) hold more than --max-boxes %d boxes; their largest are kept: %s", source,
                    len(cut), max_boxes, ", ".join(cut[:5]))
    return boxes, classes


def pack(images, targets):
    """`(images, {boxes, classes})` → `(images, [batch, max_boxes, 5])`: box and class id + 1
    (0: padding, or a box augmentation pushed out of the image)."""
    classes = tf.cast(targets["classes"], tf.float32) + 1.0
    boxes = targets["boxes"] * tf.cast(classes > 0, tf.float32)[..., tf.newaxis]
    return images, tf.concat([boxes, tf.maximum(classes, 0.0)[..., tf.newaxis]], axis=-1)


def unpack(targets):
    """NumPy `[batch, max_boxes, 5]` targets → per image `(boxes [k, 4], classes [k])`."""
    targets = np.asarray(targets)
    result = []
    for rows in targets:
        kept = rows[:, 4] > 0
        result.append((rows[kept, :4].astype(np.float32), rows[kept, 4].astype(np.int32) - 1))
    return result


def make_augmenter(config):
    """Random horizontal flips, zooms (scale jitter; zooming in crops) and shifts, applied to
    images and boxes alike by Keras' box-aware layers (`apps.core.augment`)."""
    return GeometricAugmentation(geometric_layers(BOX_FORMAT, flip="horizontal", zoom=config.zoom,
                                                  translation=config.translation, seed=config.seed))


def hold_out_validation(train, config):
    """`(train, validation)`: a seeded random `validation_fraction` of the training set held out."""
    order = np.random.default_rng(config.seed).permutation(len(train))
    count = int(round(len(train) * config.validation_fraction))
    return train.take(np.sort(order[count:])), train.take(np.sort(order[:count]))


def make_splits(train, test, class_names, config, source):
    """`DataSplits` of batched pipelines from the annotated train and test sets."""
    if config.class_names:
        if len(config.class_names) < len(class_names):
            raise ConfigError(f"--class-names names {len(config.class_names)} classes but {source} has "
                              f"{len(class_names)}.")
        class_names = tuple(config.class_names)
    if config.max_examples:
        train = train.take(range(min(config.max_examples, len(train))))
    train, validation = hold_out_validation(train, config)
    augment = make_augmenter(config) if config.augment else None

    def pipeline(labelled, training):
        boxes, classes = padded(labelled, config.max_boxes, source)
        dataset = tf.data.Dataset.from_tensor_slices(
            (labelled.images, {"boxes": boxes, "classes": classes}))
        to_float = lambda image, targets: (tf.cast(image, tf.float32), targets)  # noqa: E731
        batched = batched_pipeline(dataset, config.batch_size, training=training, seed=config.seed,
                                   preprocess=to_float, augment=augment)
        return batched.map(pack, num_parallel_calls=tf.data.AUTOTUNE)

    return DataSplits(
        train=pipeline(train, training=True),
        validation=pipeline(validation, training=False) if len(validation) else None,
        test=pipeline(test, training=False),
        class_names=tuple(class_names),
        train_examples=len(train),
        validation_examples=len(validation),
        test_examples=len(test),
        source=source,
        info={"test_images": test.images, "test_boxes": test.boxes, "test_classes": test.classes,
              "test_names": test.names, "test_sizes": test.sizes},
    )
