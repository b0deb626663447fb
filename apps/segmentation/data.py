"""Segmentation data, streamed: TFDS Oxford-IIIT Pet, local files (`.npz`, image + mask folders,
Pascal VOC) or generated shapes.

The loaders build `RawSplits` of raw examples `{"image": encoded bytes, "mask": PNG bytes of
class ids, "name": where it came from}`: folders are read with `tf.io.read_file` from an index
of paths, TFDS without decoding, and the sources that are arrays by nature (an `.npz`, the
generated shapes) are PNG-encoded lazily inside `tf.data`. `splits_from_raw` decodes, checks,
resizes (images bilinear and antialiased, masks nearest), batches and augments in `tf.data`.

Masks hold class ids; `config.ignore_class` marks pixels left out of the loss and the
metrics. A missing image or mask stops the loading on the index; a mask whose size differs
from its image, or that holds an id past the declared classes, stops the pipeline where it
is decoded with an error naming the file (`apps.core.decode_checks`).
"""

from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.core import data as core_data
from apps.core.augment import GeometricAugmentation, geometric_layers
from apps.core.config import ConfigError
from apps.core.data import (
    AUTOTUNE,
    DataSourceError,
    DataSplits,
    RawSplits,
    cached_if_small,
    held_out_rows,
    hold_out_stream,
    prefetched,
)
from apps.core.decode_checks import check
from apps.segmentation.builtin import CLASS_NAMES as BUILTIN_CLASS_NAMES
from apps.segmentation.builtin import builtin_split

RECORD_FEATURES = {"image": (tf.string, ()), "mask": (tf.string, ()), "name": (tf.string, ())}
PET_CLASS_NAMES = ("pet", "background", "border")  # Oxford trimaps 1, 2, 3 less one, as keras-io does
PERSON_CLASS_NAMES = ("background", "person")
VOC_CLASS_NAMES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
# Mask arrays an .npz may hold, in the order they are looked for, with their class names
# (`semantic` first: Penn-Fudan's `masks` are instance ids, its `semantic` person/background).
NPZ_MASK_KEYS = {"semantic": PERSON_CLASS_NAMES, "trimaps": PET_CLASS_NAMES, "masks": None}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
IMAGE_FOLDERS, MASK_FOLDERS = ("images", "JPEGImages"), ("masks", "SegmentationClass", "annotations")
DEFAULT_TEST_FRACTION = 0.2
# Training examples are shuffled twice: encoded, before decoding (so a cached split is
# cached in a random order), and decoded, after the cache (a new order each epoch); both
# buffers are bounded, so the first step does not wait for a whole split to be decoded.
RAW_SHUFFLE_EXAMPLES = 512
DECODED_SHUFFLE_BYTES = 32 * 2**20
_PNG_COLOR_TYPE_BYTE, _PNG_PALETTE = 25, 3


# ----- index ---------------------------------------------------------------------------------
def _rows(table, rows):
    return {key: np.asarray(values)[rows] for key, values in table.items()}


def _count(table):
    return len(next(iter(table.values())))


def split_last(table, config):
    """`(train, test)` tables when a source has no split: the last `config.test_size` examples
    (a fifth by default) are the test split."""
    total = _count(table)
    count = config.test_size or max(1, int(round(total * DEFAULT_TEST_FRACTION)))
    if count >= total:
        raise ConfigError(f"--test-size {count} leaves no training examples out of {total}.")
    return _rows(table, slice(0, total - count)), _rows(table, slice(total - count, total))


def raw_from_tables(train, test, to_raw, class_names, config, source):
    """`RawSplits` from the train and test index tables (dicts of equal-length arrays):
    `max_examples` training rows, a seeded `validation_fraction` of them held out, each row
    made a raw example by `to_raw` inside `tf.data`."""
    if config.max_examples:
        train = _rows(train, slice(0, min(config.max_examples, _count(train))))
    kept, held = held_out_rows(_count(train), config.validation_fraction, config.seed)
    tables = {"train": _rows(train, np.sort(kept)), "validation": _rows(train, np.sort(held)), "test": test}
    splits = {
        name: tf.data.Dataset.from_tensor_slices(table).map(to_raw, num_parallel_calls=AUTOTUNE)
        for name, table in tables.items()
        if _count(table)
    }
    counts = {name: _count(tables[name]) for name in splits}
    return _with_class_names(splits, counts, class_names, config, source)


def _with_class_names(splits, counts, found, config, source):
    class_names = class_names_for(found, splits, config)
    return RawSplits(
        splits=splits,
        counts=counts,
        class_names=class_names,
        source=source,
        details={"validation_fraction": config.validation_fraction, "seed": config.seed},
    )


def class_names_for(found, splits, config):
    """The declared names (`--class-names`), or the source's, or `class_<id>` up to the largest
    id of the masks (found by decoding every mask once, in `tf.data`)."""
    if config.class_names:
        return tuple(config.class_names)
    if found:
        return tuple(found)
    largest = 0
    for dataset in splits.values():
        masks = dataset.map(lambda example: decode_mask(example["mask"]), num_parallel_calls=AUTOTUNE)
        kept = masks.map(lambda mask: tf.reduce_max(tf.where(mask == config.ignore_class, 0, tf.cast(mask, tf.int32))))
        largest = max(largest, int(kept.reduce(tf.constant(0), tf.maximum)))
    return tuple(f"class_{index}" for index in range(largest + 1))


def encoded_arrays(row):
    """A row of uint8 arrays `{"image", "mask", "name"}` → a raw example (PNG bytes)."""
    return {
        "image": tf.io.encode_png(row["image"]),
        "mask": tf.io.encode_png(row["mask"][..., tf.newaxis]),
        "name": row["name"],
    }


def read_files(row):
    """A row of paths `{"image", "mask", "name"}` → a raw example (the files' bytes)."""
    return {"image": tf.io.read_file(row["image"]), "mask": tf.io.read_file(row["mask"]), "name": row["name"]}


def as_rgb(image):
    """uint8 `[h, w]`, `[h, w, 1|3|4]` → `[h, w, 3]` (alpha dropped)."""
    image = np.asarray(image, np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]


# ----- .npz (arrays by nature: np.load reads them whole) -----------------------------------------
def _npz_mask_key(arrays, config, path):
    if config.mask_key:
        if config.mask_key not in arrays:
            raise DataSourceError(
                f"{path} has no array {config.mask_key!r} (--mask-key); it holds {', '.join(sorted(arrays))}."
            )
        return config.mask_key
    for key in NPZ_MASK_KEYS:
        if key in arrays:
            return key
    raise DataSourceError(
        f"{path} holds no mask array ({', '.join(NPZ_MASK_KEYS)}); it holds "
        f"{', '.join(sorted(arrays))}. Name the mask array with --mask-key."
    )


def load_npz(path, config):
    """`RawSplits` of an `.npz` with `images` and a mask array; with a `split` array,
    `trainval` (or `train`) rows train and `test` rows test, others are left out."""
    with np.load(path, allow_pickle=False) as handle:
        arrays = {key: handle[key] for key in handle.files}
    if "images" not in arrays:
        raise DataSourceError(f"{path} has no `images` array; it holds {', '.join(sorted(arrays))}.")
    key = _npz_mask_key(arrays, config, path)
    images, masks = arrays["images"], arrays[key].astype(np.int64)
    if masks.ndim == 4 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    if len(images) != len(masks) or masks.ndim != 3 or images.shape[1:3] != masks.shape[1:]:
        raise DataSourceError(
            f"{path}: `images` {images.shape} and `{key}` {masks.shape} must be "
            "[n, height, width(, channels)] and [n, height, width] with the same n, height "
            "and width."
        )
    if key == "trimaps":
        masks = np.where(masks == config.ignore_class, masks, masks - 1)  # Oxford's 1..3 → 0..2
    if masks.min() < 0 or masks.max() > 255:
        raise DataSourceError(f"{path}: `{key}` holds ids outside 0..255 ({masks.min()}..{masks.max()}).")
    names = [
        f"{Path(path).name}[{index}]" + (f" ({arrays['names'][index]})" if "names" in arrays else "")
        for index in range(len(images))
    ]
    table = {
        "image": np.stack([as_rgb(image) for image in images]),
        "mask": masks.astype(np.uint8),
        "name": np.array(names),
    }
    found = tuple(str(name) for name in arrays["class_names"]) if "class_names" in arrays else NPZ_MASK_KEYS[key]
    if "split" not in arrays:
        train, test = split_last(table, config)
    else:
        split = arrays["split"].astype(str)
        train, test = _rows(table, np.isin(split, ("trainval", "train"))), _rows(table, split == "test")
        if not _count(train) or not _count(test):
            raise DataSourceError(
                f"{path}: its `split` array must mark rows `trainval` (or `train`) and "
                f"`test`; it holds {sorted(set(split.tolist()))}."
            )
    return raw_from_tables(train, test, encoded_arrays, found, config, f"files:{path}")


# ----- image and mask folders (and Pascal VOC): an index of paths ---------------------------------
def _subfolder(root, candidates, what):
    for name in candidates:
        if (root / name).is_dir():
            return root / name
    raise DataSourceError(
        f"{root} has no {what} folder ({', '.join(candidates)}). Give an .npz, a folder "
        "with images/ and masks/, or Pascal VOC's JPEGImages/ and SegmentationClass/."
    )


def _split_lists(root):
    """`{split: [stems]}` from `train.txt`/`test.txt` (or VOC's `ImageSets/Segmentation/`
    `train.txt`/`val.txt`, val testing); empty when there are none."""
    for folder in (root / "ImageSets" / "Segmentation", root):
        test_file = next((folder / name for name in ("test.txt", "val.txt") if (folder / name).is_file()), None)
        if (folder / "train.txt").is_file() and test_file:
            read = lambda file: [line.split()[0] for line in file.read_text().splitlines() if line.strip()]
            return {"train": read(folder / "train.txt"), "test": read(test_file)}
    return {}


def _pair_table(image_dir, mask_dir, stems):
    """`{"image": paths, "mask": paths, "name": mask paths}` of `stems`; a stem without its
    image or its PNG mask stops the loading, naming it."""
    files = {path.stem: path for path in image_dir.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES}
    mask_files = {path.stem for path in mask_dir.glob("*.png")}
    for stem in stems:
        if stem not in files or stem not in mask_files:
            raise DataSourceError(
                f"{stem}: no image in {image_dir} or no {stem}.png in {mask_dir}; every "
                "image needs a PNG mask of the same name."
            )
    if not stems:
        raise DataSourceError(f"{image_dir}: no images found.")
    masks = [str(mask_dir / f"{stem}.png") for stem in stems]
    return {"image": np.array([str(files[stem]) for stem in stems]), "mask": np.array(masks), "name": np.array(masks)}


def load_folders(root, config):
    """`RawSplits` of `images/` + `masks/` (or VOC's `JPEGImages/` + `SegmentationClass/`),
    split by the split files, else the last examples test."""
    image_dir = _subfolder(root, IMAGE_FOLDERS, "image")
    mask_dir = _subfolder(root, MASK_FOLDERS, "mask")
    found = VOC_CLASS_NAMES if mask_dir.name == "SegmentationClass" else ()
    splits = _split_lists(root)
    if splits:
        train, test = (_pair_table(image_dir, mask_dir, splits[name]) for name in ("train", "test"))
    else:
        train, test = split_last(
            _pair_table(image_dir, mask_dir, sorted(p.stem for p in mask_dir.glob("*.png"))), config
        )
    return raw_from_tables(train, test, read_files, found, config, f"files:{root}")


def load_files(path, config):
    """`RawSplits` of an `.npz` or a folder."""
    path = Path(path)
    if not path.exists():
        raise DataSourceError(
            f"{path} does not exist. Give an .npz, a folder with images/ and masks/, or a Pascal VOC folder."
        )
    if path.is_file():
        return load_npz(path, config)
    return load_folders(path, config)


# ----- TFDS: tf.data end to end, images and masks left encoded -------------------------------------
def _pet_example(name, split, ignore_class):
    def raw(example):
        trimap = tf.io.decode_png(example["segmentation_mask"], channels=1)
        mask = tf.where(trimap == ignore_class, trimap, trimap - 1)  # Oxford's 1..3 → 0..2
        return {
            "image": example["image"],
            "mask": tf.io.encode_png(mask),
            "name": tf.strings.join([f"tfds:{name}/{split}/", example["file_name"]]),
        }

    return raw


def split_count(builder, split):
    """Examples in a prepared TFDS split, from its metadata (nothing is read)."""
    return builder.info.splits[split].num_examples


def load_tfds_pets(name, config):
    """`RawSplits` of TFDS `oxford_iiit_pet` (its train and test splits; validation held out of train)."""
    import tensorflow_datasets as tfds

    core_data.load_tfds(name, "train", as_supervised=False)  # downloads it, or fails fast offline
    builder = tfds.builder(name)
    decoders = {"image": tfds.decode.SkipDecoding(), "segmentation_mask": tfds.decode.SkipDecoding()}
    datasets, counts = {}, {}
    for split in ("train", "test"):
        dataset = builder.as_dataset(split=split, decoders=decoders, shuffle_files=False)
        datasets[split] = dataset.map(_pet_example(name, split, config.ignore_class), num_parallel_calls=AUTOTUNE)
        counts[split] = split_count(builder, split)
    if config.max_examples:
        counts["train"] = min(config.max_examples, counts["train"])
        datasets["train"] = datasets["train"].take(counts["train"])
    splits, held_counts = hold_out_stream(datasets["train"], counts["train"], config.validation_fraction, config.seed)
    splits["test"], counts = datasets["test"], {**held_counts, "test": counts["test"]}
    splits = {split: dataset for split, dataset in splits.items() if counts[split]}
    return _with_class_names(
        splits, {split: counts[split] for split in splits}, PET_CLASS_NAMES, config, f"tfds:{name}"
    )


# ----- builtin (generated at the network's size: arrays by nature, 400 of them) --------------------
def load_builtin(config):
    tables = {}
    for split in ("train", "test"):
        images, masks = builtin_split(split, config.image_size)
        tables[split] = {
            "image": images,
            "mask": masks,
            "name": np.array([f"builtin/{split}[{i}]" for i in range(len(images))]),
        }
    return raw_from_tables(
        tables["train"], tables["test"], encoded_arrays, BUILTIN_CLASS_NAMES, config, "builtin (generated shapes)"
    )


# ----- decoding, checks and resizing (in tf.data) ---------------------------------------------------
def _is_image(encoded):
    start = lambda count: tf.strings.substr(encoded, 0, count)
    return (
        tf.io.is_jpeg(encoded) | tf.equal(start(4), b"\x89PNG") | tf.equal(start(3), b"GIF") | tf.equal(start(2), b"BM")
    )


def decode_rgb(encoded, name):
    """Encoded PNG/JPEG/GIF/BMP bytes → uint8 `[h, w, 3]` (gray repeated, alpha dropped); a
    file that is no image fails naming `name`."""
    with tf.control_dependencies([check(_is_image(encoded), name, ": not a PNG, JPEG, GIF or BMP image")]):
        image = tf.io.decode_image(encoded, channels=0, dtype=tf.uint8, expand_animations=False)
    channels = tf.shape(image)[-1]
    image = tf.cond(channels < 3, lambda: tf.repeat(image[..., :1], 3, axis=-1), lambda: image[..., :3])
    return tf.ensure_shape(image, [None, None, 3])


def _png_palette_indices(png):
    """Palette indices of a palette PNG (what Pascal VOC's masks hold): TensorFlow decodes the
    palette's colours, which are mapped back to the first index of each colour in PLTE."""
    rgb = tf.cast(tf.io.decode_png(png, channels=3), tf.int32)
    start = tf.strings.length(tf.strings.split(png, sep="PLTE", maxsplit=1)[0])
    length = tf.reduce_sum(
        tf.cast(tf.io.decode_raw(tf.strings.substr(png, start - 4, 4), tf.uint8), tf.int32)
        * tf.constant([2**24, 2**16, 2**8, 1])
    )
    palette = tf.reshape(
        tf.cast(tf.io.decode_raw(tf.strings.substr(png, start + 4, length), tf.uint8), tf.int32), [-1, 3]
    )
    codes = palette[:, 0] * 65536 + palette[:, 1] * 256 + palette[:, 2]
    order = tf.argsort(codes, stable=True)
    pixels = tf.reshape(rgb[..., 0] * 65536 + rgb[..., 1] * 256 + rgb[..., 2], [-1])
    found = tf.minimum(tf.searchsorted(tf.gather(codes, order), pixels), tf.size(codes) - 1)
    return tf.reshape(tf.cast(tf.gather(order, found), tf.uint8), tf.shape(rgb)[:2])


def decode_mask(png):
    """Class ids `[h, w]` (uint8) of a PNG mask: palette indices (VOC), or the first channel of a
    gray or RGB one."""
    color_type = tf.io.decode_raw(tf.strings.substr(png, _PNG_COLOR_TYPE_BYTE, 1), tf.uint8)[0]
    return tf.cond(
        tf.equal(color_type, _PNG_PALETTE),
        lambda: _png_palette_indices(png),
        lambda: tf.io.decode_png(png, channels=0)[..., 0],
    )


def _checked(image, mask, name, class_count, ignore_class, source):
    """The pair, once the mask has its image's size and holds only class ids or the ignored id."""
    image_size, mask_size = tf.shape(image)[:2], tf.shape(mask)
    valid = np.zeros(256, bool)
    valid[:class_count] = True
    valid[ignore_class] = True
    bad = tf.boolean_mask(mask, ~tf.gather(tf.constant(valid), tf.cast(mask, tf.int32)))
    bad_ids = tf.strings.reduce_join(
        tf.strings.as_string(tf.sort(tf.unique(tf.cast(bad, tf.int32))[0])), separator=", "
    )
    checks = [
        check(
            tf.reduce_all(image_size == mask_size),
            name,
            ": the mask is ",
            mask_size[1],
            "x",
            mask_size[0],
            " pixels but the image is ",
            image_size[1],
            "x",
            image_size[0],
            "; every mask must have its image's size.",
        ),
        check(
            tf.equal(tf.size(bad), 0),
            f"{source}: the mask of ",
            name,
            " holds class id(s) [",
            bad_ids,
            f"], but there are {class_count} classes (0..{class_count - 1}) and the ignored id is "
            f"{ignore_class}. Declare the classes with --class-names, or the ignored id with --ignore-class.",
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(image), tf.identity(mask)


def resized_pair(image, mask, size):
    """uint8 image `[h, w, 3]` and mask `[h, w]` at `size`×`size`: bilinear and antialiased,
    rounded (the image), nearest (the mask)."""
    resized = tf.image.resize(image, (size, size), antialias=True)
    image = tf.cast(tf.round(tf.clip_by_value(resized, 0, 255)), tf.uint8)
    mask = tf.image.resize(mask[..., tf.newaxis], (size, size), method="nearest")[..., 0]
    return tf.ensure_shape(image, [size, size, 3]), tf.ensure_shape(mask, [size, size])


def decoder(config, class_count, source):
    """A raw example → `(image uint8 [size, size, 3], mask uint8 [size, size])`, checked."""

    @tf.autograph.experimental.do_not_convert  # no Python control flow: tracing stays fast
    def decode(example):
        image = decode_rgb(example["image"], example["name"])
        mask = decode_mask(example["mask"])
        image, mask = _checked(image, mask, example["name"], class_count, config.ignore_class, source)
        return resized_pair(image, mask, config.image_size)

    return decode


# ----- pipelines ------------------------------------------------------------------------------
def to_model_input(images, masks):
    """uint8 images and masks → float32 pixels 0–255 (the model rescales) and int32 masks `[..., 1]`."""
    return tf.cast(images, tf.float32), tf.cast(masks, tf.int32)[..., tf.newaxis]


def make_augmenter(config):
    """Random flips, zooms and shifts applied to images and masks alike (`apps.core.augment`).

    Pixels brought in from outside the image get the ignored id in the mask: ids are
    shifted up by one around the transforms, so Keras' zero fill stands out.
    """
    geometric = GeometricAugmentation(
        geometric_layers(flip="horizontal", zoom=config.zoom, translation=config.translation, seed=config.seed)
    )

    def augment(images, masks):
        images, targets = geometric(images, {"mask": masks + 1})
        moved = tf.cast(targets["mask"], tf.int32)
        return images, tf.where(moved == 0, config.ignore_class, moved - 1)

    return augment


def decoded_pipeline(raw, count, decode, config, training, augment=None):
    """Batches `(float32 images [b, s, s, 3], int32 masks [b, s, s, 1])` of a raw split: decoded
    in parallel, cached while small (`cached_if_small`), shuffled (training), augmented."""
    example_bytes = 4 * config.image_size**2
    if training:
        raw = raw.shuffle(RAW_SHUFFLE_EXAMPLES, seed=config.seed, reshuffle_each_iteration=True)
    dataset = cached_if_small(raw.map(decode, num_parallel_calls=AUTOTUNE), count, example_bytes)
    if training:
        buffer = max(1, DECODED_SHUFFLE_BYTES // example_bytes)
        dataset = dataset.shuffle(min(count, buffer), seed=config.seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(config.batch_size).map(to_model_input, num_parallel_calls=AUTOTUNE)
    if augment is not None:
        dataset = dataset.map(augment, num_parallel_calls=AUTOTUNE)
    return prefetched(dataset)


def splits_from_raw(raw, config):
    """`DataSplits` of batched pipelines from the raw train, validation and test splits."""
    class_names = tuple(config.class_names) or tuple(raw.class_names)
    if config.ignore_class < len(class_names):
        raise ConfigError(
            f"--ignore-class {config.ignore_class} is one of the {len(class_names)} classes of "
            f"{raw.source}; choose a value past them (255 by default)."
        )
    decode = decoder(config, len(class_names), raw.source)
    augment = make_augmenter(config) if config.augment else None

    def pipeline(split, training):
        return decoded_pipeline(
            raw.splits[split], raw.counts[split], decode, config, training, augment if training else None
        )

    return DataSplits.assemble(pipeline, {split: raw.counts[split] for split in raw.splits}, class_names, raw.source)
