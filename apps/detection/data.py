"""Detection data, streamed: TFDS (`voc/2007`, `coco/2017`), local files (COCO instances JSON
with a folder or `.tar` of images, Pascal VOC folders) or generated scenes.

The loaders hold only an index in memory: per image its name, where its bytes are (a file,
or a byte span of a `.tar`), its boxes (pixel edges `[ymin, xmin, ymax, xmax]` of the
original image), class ids and original `(height, width)`. They return `RawSplits` whose
examples (`RECORD_FEATURES`) carry the encoded image bytes, read inside `tf.data`. Bad
annotations stop the loading before any image is read, with an error naming the image and
the annotation (zero or negative size, a box wholly outside its image, an unknown category,
a missing image file, a source without any annotation); boxes that stick out of their image
are clipped to it, as COCO and VOC tools do, and the log says how many and where. Image
sizes come from the annotations (COCO's `width`/`height`, VOC's `<size>`), else from the
file's header; a file whose pixels disagree stops the pipeline when it is decoded, with an
error naming it.

`splits_from_raw` decodes, resizes to the network's square (stretched, antialiased as the
serving signatures do; boxes with it), keeps `max_boxes` boxes per image (the largest),
batches and augments, all in `tf.data` with parallel maps; a decoded split is cached only
while it is small (`apps.core.data.cached_if_small`). Pipelines yield `(images float32
[batch, size, size, 3] 0-255, targets float32 [batch, max_boxes, 5])`: each target row is a
box and its class id + 1, rows of zeros pad (so any re-batching that pads with zeros keeps
the meaning).
"""

import dataclasses
import functools
import io
import json
import logging
import tarfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.core.augment import GeometricAugmentation, geometric_layers
from apps.core.config import ConfigError
from apps.core.data import (
    AUTOTUNE,
    DECODED_CACHE_BYTES,
    DataSourceError,
    DataSplits,
    RawSplits,
    cached_if_small,
    held_out_rows,
    load_tfds,
    prefetched,
)
from apps.core.images import decode_image
from apps.detection.builtin import CLASS_NAMES as BUILTIN_CLASS_NAMES
from apps.detection.builtin import builtin_split
from apps.detection.config import parse_test_split

LOG = logging.getLogger("kapps.detection")
# The pipeline functions hold no Python control flow: tracing them without AutoGraph's
# conversion takes a third of the time.
graph_function = tf.autograph.experimental.do_not_convert
IMAGE_FOLDERS = ("images", "JPEGImages", "train2017", "val2017", ".")
BOX_FORMAT = "yxyx"  # pixel edges at the network's size, in the pipelines
RECORD_FEATURES = {
    "image": (tf.string, ()),
    "name": (tf.string, ()),
    "boxes": (tf.float32, (None, 4)),
    "classes": (tf.int64, (None,)),
    "size": (tf.int64, (2,)),
}
# The training split is shuffled among this many bytes of decoded images. Its index is shuffled
# each epoch before any file is read (the first epoch's order is the cache's, when cached), so
# this only mixes neighbours; a buffer of the whole split would decode it all before the first step.
SHUFFLE_BUFFER_BYTES = 64 * 2**20
# Splits whose decoded images are cached, while together they fit in `DECODED_CACHE_BYTES`; the
# test split is read once (by the evaluation), so it is never cached.
CACHED_SPLITS = ("train", "validation")
# A TFDS `test` split whose first examples hold no object is unlabelled (COCO 2017's).
TFDS_LABEL_PROBE = 64


class AnnotationError(DataSourceError):
    """An annotation that cannot be used; the message names the image and the annotation."""


@dataclasses.dataclass
class ImageIndex:
    """A split as held in memory: where each image's bytes are and its annotations, no pixels."""

    names: list  # image names, for error messages, splits and plots
    locations: list  # the image file, the `.tar` holding it, or (builtin) the encoded image itself
    spans: list  # (offset, length) of the image in its `.tar`; (0, -1): the whole location
    boxes: list  # per image float32 [k, 4]: ymin, xmin, ymax, xmax in pixels of the original image
    classes: list  # per image int64 [k]
    sizes: list  # each image's original (height, width)

    def __len__(self):
        return len(self.names)

    def take(self, indices):
        indices = list(indices)
        return ImageIndex(*([getattr(self, field.name)[i] for i in indices] for field in dataclasses.fields(self)))


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
            LOG.warning(
                "%s: %d box(es) stuck out of their image and were clipped to it: %s",
                self.source,
                len(self.where),
                shown,
            )


def checked_box(box, height, width, image_name, annotation, clipping):
    """A pixel box `[ymin, xmin, ymax, xmax]` of an image of `height` × `width`, clipped to the
    image; `AnnotationError` when its size is zero or negative or it lies wholly outside."""
    ymin, xmin, ymax, xmax = (float(value) for value in box)
    if not all(np.isfinite([ymin, xmin, ymax, xmax])) or ymax <= ymin or xmax <= xmin:
        raise AnnotationError(
            f"{image_name}: {annotation} has a box of zero or negative size "
            f"(ymin {ymin:g}, xmin {xmin:g}, ymax {ymax:g}, xmax {xmax:g})."
        )
    clipped = [
        min(max(ymin, 0.0), height),
        min(max(xmin, 0.0), width),
        min(max(ymax, 0.0), height),
        min(max(xmax, 0.0), width),
    ]
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        raise AnnotationError(
            f"{image_name}: {annotation} lies outside the {width}x{height} image "
            f"(ymin {ymin:g}, xmin {xmin:g}, ymax {ymax:g}, xmax {xmax:g})."
        )
    if clipped != [ymin, xmin, ymax, xmax]:
        clipping.note(image_name, annotation)
    return clipped


def as_boxes(boxes):
    return np.asarray(boxes, np.float32).reshape(-1, 4)


def as_classes(classes):
    return np.asarray(classes, np.int64).reshape(-1)


def header_size(file):
    """`(height, width)` from an image file's header (PIL reads only the header)."""
    from PIL import Image

    with Image.open(file) as image:
        return image.size[1], image.size[0]


# ----- test split -------------------------------------------------------------------------
def split_test(names, config, source):
    """`(train, test)` positions of the images `names`, by `config.test_split`."""
    kind, value = parse_test_split(config.test_split)
    if kind == "fraction":
        order = np.random.default_rng(config.seed).permutation(len(names))
        chosen = set(order[: max(1, int(round(len(names) * value)))].tolist())
    elif kind == "last":
        if value >= len(names):
            raise ConfigError(f"--test-split last:{value} leaves no training images out of {len(names)} in {source}.")
        chosen = set(sorted(range(len(names)), key=lambda index: names[index])[-value:])
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
    train = [index for index in range(len(names)) if index not in chosen]
    if not train:
        raise ConfigError(f"--test-split {config.test_split} leaves no training images in {source}.")
    return train, sorted(chosen)


def _names_in_file(path):
    if not Path(path).is_file():
        raise ConfigError(f"--test-split file:{path}: no such file.")
    return tuple(line.strip() for line in Path(path).read_text().splitlines() if line.strip())


def require_annotations(per_image, source):
    """`AnnotationError` when no image of `source` has an annotation (`per_image`: each image's
    boxes or annotations): an unlabelled split can neither train nor be scored."""
    if not any(len(annotations) for annotations in per_image):
        raise AnnotationError(
            f"{source}: holds no annotations (an unlabelled split, like COCO's test2017, can "
            "neither train a detector nor score one); give annotated images."
        )


# ----- COCO instances JSON -----------------------------------------------------------------
class ImageLocator:
    """Finds image files by name in the folders beside an annotation file, or in a `.tar` there
    (as the byte span of its member, so it is read in place, without extracting)."""

    def __init__(self, root, wanted):
        self.root = Path(root)
        self.members = {}
        self.tar = None
        for path in sorted(self.root.glob("*.tar")):
            with tarfile.open(path) as archive:
                members = {
                    Path(member.name).name: (member.offset_data, member.size)
                    for member in archive.getmembers()
                    if member.isfile()
                }
            if any(Path(name).name in members for name in wanted):
                self.tar, self.members = path, members
                break
        # COCO's own layout: annotations/instances_val2017.json beside val2017/.
        roots = (self.root, self.root.parent) if self.root.name == "annotations" else (self.root,)
        self.folders = [base / name for base in roots for name in IMAGE_FOLDERS if (base / name).is_dir()]

    def find(self, file_name, reference):
        """`(location, (offset, length))` of an image file; `AnnotationError` when it is missing."""
        if Path(file_name).name in self.members:
            return str(self.tar), self.members[Path(file_name).name]
        for folder in self.folders:
            for candidate in (folder / file_name, folder / Path(file_name).name):
                if candidate.is_file():
                    return str(candidate), (0, -1)
        where = f"{self.root} (its folders {', '.join(str(f) for f in self.folders)}" + (
            f" and {self.tar})" if self.tar is not None else ")"
        )
        raise AnnotationError(f"{file_name}: the image file of {reference} is missing from {where}.")

    @staticmethod
    def size(location, span):
        """`(height, width)` from the header of the image at `location` / `span`."""
        if span[1] < 0:
            return header_size(location)
        with open(location, "rb") as handle:
            handle.seek(span[0])
            return header_size(io.BytesIO(handle.read(span[1])))


def parse_coco(document, source):
    """`(class_names, index_of, [(file_name, image record, annotations)])` from a COCO instances
    document, images in file-name order; crowd annotations are left out (COCO evaluation ignores
    them) and counted in the log."""
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
            raise AnnotationError(
                f"{source}: {reference} refers to image id {annotation.get('image_id')}, which is not in `images`."
            )
        if annotation.get("category_id") not in index_of:
            raise AnnotationError(
                f"{image['file_name']}: {reference} has category id {annotation.get('category_id')}"
                f", not one of the categories {sorted(index_of)}."
            )
        if annotation.get("iscrowd", 0):
            crowd += 1
            continue
        per_image[image["id"]].append(annotation)
    if crowd:
        LOG.warning("%s: %d crowd annotation(s) (iscrowd=1) left out of training and evaluation.", source, crowd)
    records = [
        (image["file_name"], image, per_image[image_id])
        for image_id, image in sorted(images.items(), key=lambda item: item[1]["file_name"])
    ]
    return tuple(category["name"] for category in categories), index_of, records


def coco_index(json_path):
    """`(ImageIndex, class_names)` of a COCO instances JSON and its images (a folder beside it,
    or a `.tar` of them), images in file-name order; no image is decoded."""
    source = str(json_path)
    document = json.loads(Path(json_path).read_text())
    class_names, index_of, records = parse_coco(document, source)
    require_annotations([annotations for _, _, annotations in records], source)
    locator = ImageLocator(Path(json_path).parent, [record[0] for record in records])
    clipping = Clipping(source)
    index = ImageIndex([], [], [], [], [], [])
    for file_name, image, annotations in records:
        location, span = locator.find(file_name, f"image id {image['id']}")
        if image.get("height") and image.get("width"):
            height, width = int(image["height"]), int(image["width"])
        else:
            height, width = locator.size(location, span)
        boxes = []
        for annotation in annotations:
            x, y, box_width, box_height = annotation["bbox"]
            boxes.append(
                checked_box(
                    (y, x, y + box_height, x + box_width),
                    height,
                    width,
                    file_name,
                    f"annotation id {annotation.get('id')}",
                    clipping,
                )
            )
        _append(
            index,
            file_name,
            location,
            span,
            boxes,
            [index_of[item["category_id"]] for item in annotations],
            (height, width),
        )
    clipping.report()
    return index, class_names


def _append(index, name, location, span, boxes, classes, size):
    index.names.append(name)
    index.locations.append(location)
    index.spans.append(span)
    index.boxes.append(as_boxes(boxes))
    index.classes.append(as_classes(classes))
    index.sizes.append(size)


# ----- Pascal VOC folders ------------------------------------------------------------------
def parse_voc_xml(path):
    """`(file_name, (height, width) or None, [(name, difficult, [ymin, xmin, ymax, xmax] pixel
    edges)])` of one VOC annotation (VOC's 1-based inclusive corners become 0-based edges)."""
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise AnnotationError(f"{path}: not a readable VOC annotation ({error}).") from None
    file_name = root.findtext("filename") or f"{Path(path).stem}.jpg"
    try:
        size = (int(root.findtext("size/height")), int(root.findtext("size/width")))
    except (TypeError, ValueError):
        size = None
    objects = []
    for index, item in enumerate(root.findall("object")):
        box = item.find("bndbox")
        if box is None:
            raise AnnotationError(f"{path}: object {index} has no <bndbox>.")
        try:
            xmin, ymin, xmax, ymax = (float(box.findtext(key)) for key in ("xmin", "ymin", "xmax", "ymax"))
        except (TypeError, ValueError):
            raise AnnotationError(
                f"{path}: object {index} has a <bndbox> without numeric xmin/ymin/xmax/ymax."
            ) from None
        objects.append(
            ((item.findtext("name") or "").strip(), item.findtext("difficult") == "1", [ymin - 1, xmin - 1, ymax, xmax])
        )
    return file_name, size if size and min(size) > 0 else None, objects


def voc_index(root, config):
    """`(ImageIndex, class_names, (train, test) positions)` of `Annotations/*.xml` +
    `JPEGImages/`, split by `ImageSets/Main/trainval.txt` (or `train.txt`) and `test.txt` when
    present, else by `--test-split` over the annotation files' names."""
    root = Path(root)
    annotations = sorted((root / "Annotations").glob("*.xml"))
    if not annotations:
        raise DataSourceError(f"{root / 'Annotations'} holds no .xml files.")
    parsed = [(path, *parse_voc_xml(path)) for path in annotations]
    class_names = tuple(config.class_names) or tuple(sorted({name for *_, objects in parsed for name, _, _ in objects}))
    index_of = {name: index for index, name in enumerate(class_names)}
    clipping = Clipping(str(root))
    index = ImageIndex([], [], [], [], [], [])
    for xml_path, file_name, size, objects in parsed:
        image_path = root / "JPEGImages" / file_name
        if not image_path.is_file():
            raise AnnotationError(f"{file_name}: the image of {xml_path} is missing from {root / 'JPEGImages'}.")
        height, width = size or header_size(image_path)
        boxes, classes = [], []
        for number, (name, _, box) in enumerate(objects):
            if name not in index_of:
                raise AnnotationError(
                    f"{file_name}: object {number} of {xml_path} is a {name!r}, not one of the "
                    f"classes {', '.join(class_names)}."
                )
            boxes.append(checked_box(box, height, width, file_name, f"object {number} of {xml_path.name}", clipping))
            classes.append(index_of[name])
        _append(index, file_name, str(image_path), (0, -1), boxes, classes, (height, width))
    clipping.report()
    require_annotations(index.boxes, str(root))
    stems = [path.stem for path in annotations]
    return index, class_names, _voc_lists(root, stems) or split_test(stems, config, str(root))


def _voc_lists(root, stems):
    lists = root / "ImageSets" / "Main"
    if not (lists / "test.txt").is_file():
        return None
    train_list = next((lists / name for name in ("trainval.txt", "train.txt") if (lists / name).is_file()), None)
    if train_list is None:
        return None
    read = lambda path: {line.split()[0] for line in path.read_text().splitlines() if line.strip()}  # noqa: E731
    train_names, test_names = read(train_list), read(lists / "test.txt")
    return (
        [position for position, stem in enumerate(stems) if stem in train_names],
        [position for position, stem in enumerate(stems) if stem in test_names],
    )


# ----- raw splits ------------------------------------------------------------------------
def _read_span(location, offset, length):
    with open(location.numpy(), "rb") as handle:
        handle.seek(int(offset))
        return handle.read(int(length))


def read_image_bytes(example):
    """The encoded image of an index entry: a whole file, or (a `.tar` member) a span of one.
    `tf.io.read_file` cannot seek, so a member is read by Python, in place."""

    def member():
        read = tf.py_function(_read_span, [example["location"], example["offset"], example["length"]], tf.string)
        return tf.ensure_shape(read, [])

    return tf.cond(example["length"] < 0, lambda: tf.io.read_file(example["location"]), member)


def raw_dataset(index, read, shuffle_seed=None):
    """Examples of `RECORD_FEATURES` from `index`: the index itself is sliced (and, with
    `shuffle_seed`, reshuffled each epoch), the image bytes are read by `read` in parallel."""

    def ragged(arrays, width, dtype):
        values = np.concatenate([np.asarray(item, dtype).reshape((-1, *width)) for item in arrays])
        return tf.RaggedTensor.from_row_lengths(values, np.array([len(item) for item in arrays], np.int64))

    spans = np.array(index.spans, np.int64).reshape(-1, 2)
    slices = {
        "location": tf.constant(index.locations, tf.string),
        "offset": spans[:, 0],
        "length": spans[:, 1],
        "name": tf.constant(index.names, tf.string),
        "boxes": ragged(index.boxes, (4,), np.float32),
        "classes": ragged(index.classes, (), np.int64),
        "size": np.array(index.sizes, np.int64).reshape(-1, 2),
    }
    dataset = tf.data.Dataset.from_tensor_slices(slices)
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(index), seed=shuffle_seed, reshuffle_each_iteration=True)

    @graph_function
    def example(entry):
        return {
            "image": read(entry),
            "name": entry["name"],
            "boxes": tf.reshape(entry["boxes"], [-1, 4]),
            "classes": tf.reshape(entry["classes"], [-1]),
            "size": entry["size"],
        }

    return dataset.map(example, num_parallel_calls=AUTOTUNE)


def hold_out_validation(train, config):
    """`(train, validation)`: a seeded random `validation_fraction` of the training index held out."""
    kept, held = held_out_rows(len(train), config.validation_fraction, config.seed)
    return train.take(np.sort(kept)), train.take(np.sort(held))


def report_crowded(indexes, max_boxes, source):
    """Logs the images with more than `max_boxes` boxes (the pipelines keep their largest)."""
    crowded = [name for index in indexes for name, boxes in zip(index.names, index.boxes) if len(boxes) > max_boxes]
    if crowded:
        LOG.warning(
            "%s: %d image(s) hold more than --max-boxes %d boxes; their largest are kept: %s",
            source,
            len(crowded),
            max_boxes,
            ", ".join(crowded[:5]),
        )


def read_whole_file(entry):
    return tf.io.read_file(entry["location"])


def indexed_raw_splits(train, test, class_names, config, source, read=None):
    """`RawSplits` of a training and a test index: `max_examples` training images kept, then
    a seeded `validation_fraction` of them held out; the training split reshuffled each epoch.
    `read`: index entry → encoded image (default: files, and `.tar` members when any)."""
    if config.max_examples:
        train = train.take(range(min(config.max_examples, len(train))))
    train, validation = hold_out_validation(train, config)
    report_crowded((train, validation, test), config.max_boxes, source)
    if read is None:  # tar members need Python to seek; plain files stay a pure TensorFlow graph
        in_tar = any(length >= 0 for index in (train, test) for _, length in index.spans)
        read = read_image_bytes if in_tar else read_whole_file
    splits = {"train": raw_dataset(train, read, shuffle_seed=config.seed), "test": raw_dataset(test, read)}
    if len(validation):
        splits["validation"] = raw_dataset(validation, read)
    return RawSplits(
        splits,
        {"train": len(train), "validation": len(validation), "test": len(test)},
        tuple(class_names),
        source,
        {
            "validation_fraction": config.validation_fraction,
            "seed": config.seed,
            "test_split": config.test_split,
            "max_examples": config.max_examples,
        },
    )


def load_files(path, config):
    """`RawSplits` of a COCO JSON (or a folder holding one) or a VOC folder, split by its own
    lists (VOC `ImageSets/Main`) or `--test-split`."""
    path = Path(path)
    if not path.exists():
        raise DataSourceError(
            f"{path} does not exist. Give a COCO instances .json (images beside it, in a folder "
            "or a .tar) or a Pascal VOC folder (Annotations/ and JPEGImages/)."
        )
    if (path / "Annotations").is_dir():
        index, class_names, (train, test) = voc_index(path, config)
        return indexed_raw_splits(index.take(train), index.take(test), class_names, config, f"files:{path}")
    if path.is_file():
        if path.suffix != ".json":
            raise DataSourceError(f"{path}: expected a COCO instances .json or a folder.")
        index, class_names = coco_index(path)
    else:
        documents = sorted(path.glob("*.json")) or sorted((path / "annotations").glob("instances_*.json"))
        if len(documents) != 1:
            found = ", ".join(document.name for document in documents) or "none"
            raise DataSourceError(
                f"{path}: expected one COCO instances .json (found {found}) or a Pascal VOC folder "
                "(Annotations/ and JPEGImages/); name the .json in --data files:PATH."
            )
        index, class_names = coco_index(documents[0])
    train, test = split_test(index.names, config, str(path))
    return indexed_raw_splits(index.take(train), index.take(test), class_names, config, f"files:{path}")


@functools.lru_cache(maxsize=4)
def builtin_png(split, size):
    """The builtin scenes of `split` at `size`, PNG-encoded (lossless: decoded, they are the scenes)."""
    images, _, _ = builtin_split(split, size)
    return tuple(tf.io.encode_png(image).numpy() for image in images)


def load_builtin(config):
    """`RawSplits` of the generated scenes, made at `config.image_size`, PNG bytes in memory."""
    size = config.image_size
    indexes = []
    for split in ("train", "test"):
        _, boxes, classes = builtin_split(split, size)
        encoded = builtin_png(split, size)
        indexes.append(
            ImageIndex(
                [f"builtin/{split}[{i}]" for i in range(len(encoded))],
                list(encoded),
                [(0, -1)] * len(encoded),
                [as_boxes(item) for item in boxes],
                [as_classes(item) for item in classes],
                [(size, size)] * len(encoded),
            )
        )
    return indexed_raw_splits(
        *indexes,
        BUILTIN_CLASS_NAMES,
        config,
        "builtin (generated discs, squares and triangles)",
        read=lambda entry: entry["location"],
    )


# ----- TFDS --------------------------------------------------------------------------------
def encoded_size(encoded):
    """int64 `[height, width]` of an encoded image: from a JPEG's header, else by decoding."""

    def decoded():
        return tf.shape(tf.io.decode_image(encoded, channels=3, expand_animations=False))[:2]

    return tf.cast(tf.cond(tf.io.is_jpeg(encoded), lambda: tf.image.extract_jpeg_shape(encoded)[:2], decoded), tf.int64)


@graph_function
def tfds_example(example):
    """A TFDS detection example (image still encoded, `objects/bbox` relative) → `RECORD_FEATURES`;
    crowd boxes (COCO's `is_crowd`) are left out, as for COCO files."""
    objects = example["objects"]
    size = encoded_size(example["image"])
    keep = tf.logical_not(objects["is_crowd"]) if "is_crowd" in objects else tf.ones_like(objects["label"], tf.bool)
    scale = tf.cast(tf.concat([size, size], axis=0), tf.float32)
    return {
        "image": example["image"],
        "name": example.get("image/filename", tf.constant("")),
        "boxes": tf.reshape(tf.boolean_mask(objects["bbox"], keep), [-1, 4]) * scale,
        "classes": tf.cast(tf.boolean_mask(objects["label"], keep), tf.int64),
        "size": size,
    }


def tfds_labelled(dataset):
    """True when the first examples of a TFDS split hold any object."""
    return (
        int(
            dataset.take(TFDS_LABEL_PROBE).reduce(
                tf.constant(0, tf.int64), lambda count, example: count + tf.size(example["objects"]["label"], tf.int64)
            )
        )
        > 0
    )


def tfds_plan(name, counts, test_labelled, config):
    """`(train spec, validation spec, test split, {split: count})`: TFDS split strings. The test
    split is `test` when it is labelled, else `validation` (COCO 2017's `test` has no labels);
    the other splits train, their last `validation_fraction` held out (TFDS stores examples
    shuffled), after keeping the first `max_examples`."""
    test = "test" if "test" in counts and test_labelled else "validation"
    if test not in counts:
        raise DataSourceError(f"tfds:{name} has no labelled test or validation split to score on.")
    remaining = config.max_examples or sum(counts.values())
    train_parts, validation_parts, sizes = [], [], {"train": 0, "validation": 0, "test": counts[test]}
    for split in ("train", "validation"):
        if split not in counts or split == test or remaining <= 0:
            continue
        used = min(counts[split], remaining)
        remaining -= used
        held = int(round(used * config.validation_fraction))
        if used - held:
            train_parts.append(f"{split}[:{used - held}]")
        if held:
            validation_parts.append(f"{split}[{used - held}:{used}]")
        sizes["train"] += used - held
        sizes["validation"] += held
    if not train_parts:
        raise DataSourceError(f"tfds:{name} has no training split besides its test split {test!r}.")
    return "+".join(train_parts), "+".join(validation_parts), test, sizes


def load_tfds_detection(name, config):
    """`RawSplits` of a TFDS detection dataset with `objects/bbox` (relative `[ymin, xmin, ymax,
    xmax]`) and `objects/label` (`voc/2007`, `coco/2017`), images left encoded (TFDS's
    `SkipDecoding`), so it stays a `tf.data` pipeline end to end."""
    import tensorflow_datasets as tfds

    decoders = {"image": tfds.decode.SkipDecoding()}
    load = functools.partial(load_tfds, name, as_supervised=False, decoders=decoders)
    load("train")  # downloads and prepares the dataset when it is not yet
    builder = tfds.builder(name)
    counts = {split: info.num_examples for split, info in builder.info.splits.items()}
    labelled = "test" in counts and tfds_labelled(load("test"))
    if "test" in counts and not labelled:
        LOG.warning("tfds:%s: its test split holds no labels; scoring on its validation split.", name)
    train, validation, test, sizes = tfds_plan(name, counts, labelled, config)
    splits = {
        "train": load(train).map(tfds_example, num_parallel_calls=AUTOTUNE),
        "test": load(test).map(tfds_example, num_parallel_calls=AUTOTUNE),
    }
    if validation:
        splits["validation"] = load(validation).map(tfds_example, num_parallel_calls=AUTOTUNE)
    class_names = tuple(builder.info.features["objects"]["label"].names)
    return RawSplits(
        splits, sizes, class_names, f"tfds:{name}", {"train": train, "validation": validation, "test": test}
    )


# ----- pipelines ---------------------------------------------------------------------------
def _assert(condition, *parts):
    message = tf.strings.join(
        [
            part
            if tf.is_tensor(part) and part.dtype == tf.string
            else tf.strings.as_string(part)
            if tf.is_tensor(part)
            else str(part)
            for part in parts
        ]
    )
    return tf.debugging.Assert(condition, [message])


def largest_boxes(boxes, classes, max_boxes):
    """`(boxes [max_boxes, 4], classes int32 [max_boxes])` padded with zeros and class -1; an
    image with more boxes keeps its `max_boxes` largest, in their order."""
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = tf.sort(tf.argsort(-areas, stable=True)[:max_boxes])
    boxes, classes = tf.gather(boxes, keep), tf.cast(tf.gather(classes, keep), tf.int32)
    missing = max_boxes - tf.shape(keep)[0]
    return (
        tf.ensure_shape(tf.pad(boxes, [[0, missing], [0, 0]]), [max_boxes, 4]),
        tf.ensure_shape(tf.pad(classes, [[0, missing]], constant_values=-1), [max_boxes]),
    )


def decoded_image(encoded, name, max_pixels):
    """uint8 `[height, width, 3]` of an encoded image. JPEGs are decoded with the accurate integer
    IDCT (what PIL and most tools use; TensorFlow's default fast one is off by up to ~8 levels);
    other formats as the serving signatures decode them. Errors name the image."""

    def jpeg():
        shape = tf.cast(tf.image.extract_jpeg_shape(encoded), tf.int64)
        check = _assert(
            shape[0] * shape[1] <= max_pixels,
            name,
            ": a ",
            shape[1],
            "x",
            shape[0],
            f" image is over the limit of {max_pixels} pixels (--max-image-pixels)",
        )
        with tf.control_dependencies([check]):
            return tf.io.decode_jpeg(encoded, channels=3, dct_method="INTEGER_ACCURATE")

    return tf.cond(tf.io.is_jpeg(encoded), jpeg, lambda: decode_image(encoded, 3, max_pixels=max_pixels, label=name))


def make_decoder(config):
    """One raw example → `(image uint8 [size, size, 3], {boxes, classes}, {name, size})`: decoded
    (as the serving signatures decode), its size checked against the annotations', resized
    (stretched, antialiased, rounded to uint8) and its boxes scaled with it."""
    side = config.image_size

    # A `tf.function`: the splits' pipelines call one traced graph (tracing the decoding, a
    # few thousand ops with the non-JPEG formats' checks, took seconds per split).
    @functools.partial(tf.function, autograph=False, reduce_retracing=True)
    def decode(example):
        name = example["name"]
        image = decoded_image(example["image"], name, config.max_image_pixels)
        actual, declared = tf.cast(tf.shape(image)[:2], tf.int64), example["size"]
        check = _assert(
            tf.reduce_all(tf.equal(actual, declared)),
            name,
            ": the annotations say ",
            declared[1],
            "x",
            declared[0],
            " pixels, the file holds ",
            actual[1],
            "x",
            actual[0],
            ".",
        )
        with tf.control_dependencies([check]):
            resized = tf.image.resize(image, (side, side), antialias=True)
        resized = tf.cast(tf.round(tf.clip_by_value(resized, 0, 255)), tf.uint8)
        scale = side / tf.cast(declared, tf.float32)
        boxes = example["boxes"] * tf.concat([scale, scale], axis=0)
        boxes, classes = largest_boxes(boxes, example["classes"], config.max_boxes)
        return resized, {"boxes": boxes, "classes": classes}, {"name": name, "size": declared}

    return decode


@graph_function
def pack(images, targets, described=None):
    """`(images, {boxes, classes})` → `(images float32, [batch, max_boxes, 5])`: box and class
    id + 1 (0: padding, or a box augmentation pushed out of the image); `described` (names and
    original sizes) follows when given."""
    classes = tf.cast(targets["classes"], tf.float32) + 1.0
    boxes = targets["boxes"] * tf.cast(classes > 0, tf.float32)[..., tf.newaxis]
    packed = (tf.cast(images, tf.float32), tf.concat([boxes, tf.maximum(classes, 0.0)[..., tf.newaxis]], axis=-1))
    return packed if described is None else (*packed, described)


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
    return GeometricAugmentation(
        geometric_layers(
            BOX_FORMAT, flip="horizontal", zoom=config.zoom, translation=config.translation, seed=config.seed
        )
    )


def decoded_bytes(config):
    """Bytes of one decoded example in the pipelines (the uint8 image dominates)."""
    return config.image_size**2 * 3 + config.max_boxes * 20 + 256


def cache_room(counts, config):
    """`{split: bytes}`: how much each of `CACHED_SPLITS` may cache of its decoded images: the
    training split first, then the validation split, within `DECODED_CACHE_BYTES` together."""
    room, left = {}, DECODED_CACHE_BYTES
    for split in CACHED_SPLITS:
        room[split] = left
        cost = counts.get(split, 0) * decoded_bytes(config)
        left -= cost if cost <= left else 0
    return room


def chosen_class_names(class_names, config, source):
    if not config.class_names:
        return tuple(class_names)
    if len(config.class_names) < len(class_names):
        raise ConfigError(f"--class-names names {len(config.class_names)} classes but {source} has {len(class_names)}.")
    return tuple(config.class_names)


@dataclasses.dataclass
class DetectionInfo:
    """`DataSplits.info` of the detection app.

    Attributes:
        test_described: the test pipeline with each image's name and original size,
            `(images, targets, {"name", "size"})` (the evaluation answers in the image's own pixels).
    """

    test_described: "tf.data.Dataset | None"


def splits_from_raw(raw, config):
    """`DataSplits` streamed from `RawSplits`: decode → resize → boxes padded → (cache while
    small: the training, then the validation split, within `DECODED_CACHE_BYTES` together) →
    shuffle → batch → augment, in `tf.data`. `info.test_described` (`DetectionInfo`) is the test pipeline with
    each image's name and original size: `(images, targets, {"name", "size"})`."""
    decode = make_decoder(config)
    augment = make_augmenter(config) if config.augment else None
    splits, counts = dict(raw.splits), dict(raw.counts)
    if config.max_examples and counts["train"] > config.max_examples:
        splits["train"], counts["train"] = splits["train"].take(config.max_examples), config.max_examples
    room = cache_room(counts, config)

    @functools.cache
    def decoded(split):  # one decoding per split, shared by its pipelines
        examples = splits[split].map(decode, num_parallel_calls=AUTOTUNE)
        if split not in room:
            return examples
        return cached_if_small(examples, counts[split], decoded_bytes(config), limit_bytes=room[split])

    def batches(split, training=False, described=False):
        if split not in splits or not counts.get(split):
            return None
        examples = decoded(split)
        if training:
            buffer = min(counts[split], max(config.batch_size, SHUFFLE_BUFFER_BYTES // decoded_bytes(config)))
            examples = examples.shuffle(buffer, seed=config.seed, reshuffle_each_iteration=True)
        if not described:
            examples = examples.map(lambda image, targets, _: (image, targets))
        batched = examples.batch(config.batch_size)
        if training and augment is not None:
            batched = batched.map(
                lambda images, targets: augment(tf.cast(images, tf.float32), targets), num_parallel_calls=AUTOTUNE
            )
        return prefetched(batched.map(pack, num_parallel_calls=AUTOTUNE))

    return DataSplits.assemble(
        batches,
        {split: counts.get(split, 0) for split in splits},
        chosen_class_names(raw.class_names, config, raw.source),
        raw.source,
        info=DetectionInfo(test_described=batches("test", described=True)),
    )
