"""Segmentation data: TFDS Oxford-IIIT Pet, local files (`.npz`, image + mask folders, Pascal VOC)
or generated shapes; images and masks resized to `config.image_size` and checked.

Every source gives `Labelled` train and test sets at the network's size. Masks hold
class ids (`uint8`); `config.ignore_class` marks pixels left out of the loss and the
metrics. A mask whose size differs from its image, or that holds an id past the
declared classes, stops the loading with an error naming the file (and the row).
"""

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.core.augment import GeometricAugmentation, geometric_layers
from apps.core.config import ConfigError
from apps.core.data import DataSourceError, DataSplits, batched_pipeline, load_tfds
from apps.segmentation.builtin import CLASS_NAMES as BUILTIN_CLASS_NAMES
from apps.segmentation.builtin import builtin_split

PET_CLASS_NAMES = ("pet", "background", "border")  # Oxford trimaps 1, 2, 3 less one, as keras-io does
PERSON_CLASS_NAMES = ("background", "person")
VOC_CLASS_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")
# Mask arrays an .npz may hold, in the order they are looked for, with their class names
# (`semantic` first: Penn-Fudan's `masks` are instance ids, its `semantic` person/background).
NPZ_MASK_KEYS = {"semantic": PERSON_CLASS_NAMES, "trimaps": PET_CLASS_NAMES, "masks": None}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
IMAGE_FOLDERS, MASK_FOLDERS = ("images", "JPEGImages"), ("masks", "SegmentationClass", "annotations")
DEFAULT_TEST_FRACTION = 0.2


@dataclasses.dataclass
class Labelled:
    """Images with their masks at the network's size, and where each came from."""

    images: np.ndarray  # uint8 [n, size, size, 3]
    masks: np.ndarray  # uint8 [n, size, size]
    names: tuple  # file or row names, for error messages and plots

    def __len__(self):
        return len(self.images)

    def take(self, indices):
        return Labelled(self.images[indices], self.masks[indices], tuple(self.names[i] for i in indices))


# ----- resizing and checks ---------------------------------------------------------------------
def resized_pair(image, mask, size, name):
    """One uint8 image `[h, w, 3]` and its mask `[h, w]` at `size`×`size` (bilinear / nearest)."""
    if image.shape[:2] != mask.shape[:2]:
        raise DataSourceError(f"{name}: the mask is {mask.shape[1]}x{mask.shape[0]} pixels but the image is "
                              f"{image.shape[1]}x{image.shape[0]}; every mask must have its image's size.")
    if image.shape[:2] == (size, size):
        return image, mask
    resized = tf.image.resize(image, (size, size), antialias=True)
    image = tf.cast(tf.round(tf.clip_by_value(resized, 0, 255)), tf.uint8).numpy()
    mask = tf.image.resize(mask[..., None], (size, size), method="nearest").numpy()[..., 0]
    return image, mask


def resized_batch(images, masks, size, names):
    pairs = [resized_pair(image, mask, size, name) for image, mask, name in zip(images, masks, names)]
    return Labelled(np.stack([image for image, _ in pairs]), np.stack([mask for _, mask in pairs]), tuple(names))


def as_rgb(image):
    """uint8 `[h, w]`, `[h, w, 1|3|4]` → `[h, w, 3]` (alpha dropped)."""
    image = np.asarray(image, np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image[..., :3]


def check_class_ids(labelled, class_count, ignore_class, source):
    """Raises naming the first file whose mask holds an id that is no class and not ignored."""
    valid = np.zeros(256, bool)
    valid[:class_count] = True
    valid[ignore_class] = True
    bad = ~valid[labelled.masks]
    if bad.any():
        row = int(np.flatnonzero(bad.reshape(len(labelled), -1).any(axis=1))[0])
        ids = sorted(set(np.unique(labelled.masks[row][bad[row]]).tolist()))
        raise DataSourceError(
            f"{source}: the mask of {labelled.names[row]} holds class id(s) {ids}, but there are "
            f"{class_count} classes (0..{class_count - 1}) and the ignored id is {ignore_class}. "
            "Declare the classes with --class-names, or the ignored id with --ignore-class.")


def class_names_for(found, labelled_sets, config):
    """The declared names (`--class-names`), or the source's, or `class_<id>` up to the largest id."""
    if config.class_names:
        return tuple(config.class_names)
    if found:
        return tuple(found)
    largest = max(int(np.max(np.where(item.masks == config.ignore_class, 0, item.masks)))
                  for item in labelled_sets if len(item))
    return tuple(f"class_{index}" for index in range(largest + 1))


def split_last(labelled, config):
    """`(train, test)` when a source has no split: the last `config.test_size` examples
    (a fifth by default) are the test split."""
    count = config.test_size or max(1, int(round(len(labelled) * DEFAULT_TEST_FRACTION)))
    if count >= len(labelled):
        raise ConfigError(f"--test-size {count} leaves no training examples out of {len(labelled)}.")
    indices = np.arange(len(labelled))
    return labelled.take(indices[:-count]), labelled.take(indices[-count:])


# ----- .npz -----------------------------------------------------------------------------------
def _npz_mask_key(arrays, config, path):
    if config.mask_key:
        if config.mask_key not in arrays:
            raise DataSourceError(f"{path} has no array {config.mask_key!r} (--mask-key); it holds "
                                  f"{', '.join(sorted(arrays))}.")
        return config.mask_key
    for key in NPZ_MASK_KEYS:
        if key in arrays:
            return key
    raise DataSourceError(f"{path} holds no mask array ({', '.join(NPZ_MASK_KEYS)}); it holds "
                          f"{', '.join(sorted(arrays))}. Name the mask array with --mask-key.")


def load_npz(path, config):
    """`(train, test, class_names)` from an `.npz` with `images` and a mask array; with a
    `split` array, `trainval` (or `train`) rows train and `test` rows test, others are left out."""
    with np.load(path, allow_pickle=False) as handle:
        arrays = {key: handle[key] for key in handle.files}
    if "images" not in arrays:
        raise DataSourceError(f"{path} has no `images` array; it holds {', '.join(sorted(arrays))}.")
    key = _npz_mask_key(arrays, config, path)
    images, masks = arrays["images"], arrays[key].astype(np.int64)
    if masks.ndim == 4 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    if len(images) != len(masks) or masks.ndim != 3:
        raise DataSourceError(f"{path}: `images` {images.shape} and `{key}` {masks.shape} must be "
                              "[n, height, width(, channels)] and [n, height, width] with the same n.")
    if key == "trimaps":
        masks = np.where(masks == config.ignore_class, masks, masks - 1)  # Oxford's 1..3 → 0..2
    if masks.min() < 0 or masks.max() > 255:
        raise DataSourceError(f"{path}: `{key}` holds ids outside 0..255 ({masks.min()}..{masks.max()}).")
    names = [f"{Path(path).name}[{index}]" + (f" ({arrays['names'][index]})" if "names" in arrays else "")
             for index in range(len(images))]
    images = np.stack([as_rgb(image) for image in images])
    labelled = resized_batch(images, masks.astype(np.uint8), config.image_size, names)
    found = tuple(str(name) for name in arrays["class_names"]) if "class_names" in arrays else NPZ_MASK_KEYS[key]
    if "split" not in arrays:
        train, test = split_last(labelled, config)
    else:
        split = arrays["split"].astype(str)
        train = labelled.take(np.flatnonzero(np.isin(split, ("trainval", "train"))))
        test = labelled.take(np.flatnonzero(split == "test"))
        if not len(train) or not len(test):
            raise DataSourceError(f"{path}: its `split` array must mark rows `trainval` (or `train`) and "
                                  f"`test`; it holds {sorted(set(split.tolist()))}.")
    return train, test, found


# ----- image and mask folders (and Pascal VOC) ----------------------------------------------
def _read_image(path):
    from PIL import Image

    with Image.open(path) as image:
        image.seek(0)
        return as_rgb(np.asarray(image.convert("RGBA") if image.mode == "P" else image))


def _read_mask(path):
    """Class ids of a PNG mask: palette indices (VOC), or the first channel of a gray/RGB one."""
    from PIL import Image

    with Image.open(path) as mask:
        array = np.asarray(mask)
    return array if array.ndim == 2 else array[..., 0]


def _subfolder(root, candidates, what):
    for name in candidates:
        if (root / name).is_dir():
            return root / name
    raise DataSourceError(f"{root} has no {what} folder ({', '.join(candidates)}). Give an .npz, a folder "
                          "with images/ and masks/, or Pascal VOC's JPEGImages/ and SegmentationClass/.")


def _split_lists(root):
    """`{split: [stems]}` from `train.txt`/`test.txt` (or VOC's `ImageSets/Segmentation/`
    `train.txt`/`val.txt`, val testing); empty when there are none."""
    for folder in (root / "ImageSets" / "Segmentation", root):
        test_file = next((folder / name for name in ("test.txt", "val.txt") if (folder / name).is_file()), None)
        if (folder / "train.txt").is_file() and test_file:
            read = lambda file: [line.split()[0] for line in file.read_text().splitlines() if line.strip()]
            return {"train": read(folder / "train.txt"), "test": read(test_file)}
    return {}


def _read_pairs(image_dir, mask_dir, stems, config):
    images, masks, names = [], [], []
    files = {path.stem: path for path in image_dir.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES}
    for stem in stems:
        mask_path = mask_dir / f"{stem}.png"
        if stem not in files or not mask_path.is_file():
            raise DataSourceError(f"{stem}: no image in {image_dir} or no {mask_path.name} in {mask_dir}; every "
                                  "image needs a PNG mask of the same name.")
        image, mask = resized_pair(_read_image(files[stem]), _read_mask(mask_path), config.image_size, mask_path)
        images.append(image)
        masks.append(mask)
        names.append(str(mask_path))
    if not images:
        raise DataSourceError(f"{image_dir}: no images found.")
    return Labelled(np.stack(images), np.stack(masks), tuple(names))


def load_folders(root, config):
    """`(train, test, class_names)` from `images/` + `masks/` (or VOC's `JPEGImages/` +
    `SegmentationClass/`), split by the split files, else the last examples test."""
    image_dir = _subfolder(root, IMAGE_FOLDERS, "image")
    mask_dir = _subfolder(root, MASK_FOLDERS, "mask")
    found = VOC_CLASS_NAMES if mask_dir.name == "SegmentationClass" else ()
    splits = _split_lists(root)
    if splits:
        return (_read_pairs(image_dir, mask_dir, splits["train"], config),
                _read_pairs(image_dir, mask_dir, splits["test"], config), found)
    stems = sorted(path.stem for path in mask_dir.glob("*.png"))
    train, test = split_last(_read_pairs(image_dir, mask_dir, stems, config), config)
    return train, test, found


def load_files(path, config):
    """`(train, test, class_names)` from an `.npz` or a folder."""
    path = Path(path)
    if not path.exists():
        raise DataSourceError(f"{path} does not exist. Give an .npz, a folder with images/ and masks/, or a "
                              "Pascal VOC folder.")
    if path.is_file():
        return load_npz(path, config)
    return load_folders(path, config)


# ----- TFDS -----------------------------------------------------------------------------------
def load_tfds_pets(name, config):
    """`(train, test, class_names)` from TFDS `oxford_iiit_pet` (its train and test splits)."""
    sets = []
    for split in ("train", "test"):
        dataset = load_tfds(name, split, as_supervised=False)
        images, masks, names = [], [], []
        for index, example in enumerate(dataset.as_numpy_iterator()):
            image, mask = resized_pair(as_rgb(example["image"]), example["segmentation_mask"][..., 0],
                                       config.image_size, f"tfds:{name}/{split}[{index}]")
            images.append(image)
            masks.append(np.where(mask == config.ignore_class, mask, mask - 1))
            names.append(f"tfds:{name}/{split}[{index}]")
        sets.append(Labelled(np.stack(images), np.stack(masks), tuple(names)))
    return sets[0], sets[1], PET_CLASS_NAMES


def load_builtin(config):
    train, test = (builtin_split(split, config.image_size) for split in ("train", "test"))
    return (Labelled(*train, tuple(f"builtin/train[{i}]" for i in range(len(train[0])))),
            Labelled(*test, tuple(f"builtin/test[{i}]" for i in range(len(test[0])))), BUILTIN_CLASS_NAMES)


# ----- pipelines ------------------------------------------------------------------------------
def to_model_input(image, mask):
    """uint8 image and mask → float32 pixels 0–255 (the model rescales) and an int32 mask `[h, w, 1]`."""
    return tf.cast(image, tf.float32), tf.cast(mask, tf.int32)[..., tf.newaxis]


def make_augmenter(config):
    """Random flips, zooms and shifts applied to images and masks alike (`apps.core.augment`).

    Pixels brought in from outside the image get the ignored id in the mask: ids are
    shifted up by one around the transforms, so Keras' zero fill stands out.
    """
    geometric = GeometricAugmentation(geometric_layers(flip="horizontal", zoom=config.zoom,
                                                       translation=config.translation, seed=config.seed))

    def augment(images, masks):
        images, targets = geometric(images, {"mask": masks + 1})
        moved = tf.cast(targets["mask"], tf.int32)
        return images, tf.where(moved == 0, config.ignore_class, moved - 1)

    return augment


def hold_out_validation(train, config):
    """`(train, validation)`: a seeded random `validation_fraction` of the training set held out."""
    order = np.random.default_rng(config.seed).permutation(len(train))
    count = int(round(len(train) * config.validation_fraction))
    return train.take(np.sort(order[count:])), train.take(np.sort(order[:count]))


def make_splits(train, test, class_names, config, source):
    """`DataSplits` of batched pipelines from the labelled train and test sets."""
    class_names = class_names_for(class_names, (train, test), config)
    if config.ignore_class < len(class_names):
        raise ConfigError(f"--ignore-class {config.ignore_class} is one of the {len(class_names)} classes of "
                          f"{source}; choose a value past them (255 by default).")
    for labelled in (train, test):
        check_class_ids(labelled, len(class_names), config.ignore_class, source)
    if config.max_examples:
        train = train.take(np.arange(min(config.max_examples, len(train))))
    train, validation = hold_out_validation(train, config)
    augment = make_augmenter(config) if config.augment else None

    def pipeline(labelled, training):
        dataset = tf.data.Dataset.from_tensor_slices((labelled.images, labelled.masks))
        return batched_pipeline(dataset, config.batch_size, training=training, seed=config.seed,
                                preprocess=to_model_input, augment=augment)

    return DataSplits(
        train=pipeline(train, training=True),
        validation=pipeline(validation, training=False) if len(validation) else None,
        test=pipeline(test, training=False),
        class_names=tuple(class_names),
        train_examples=len(train),
        validation_examples=len(validation),
        test_examples=len(test),
        source=source,
        info={"test_images": test.images, "test_masks": test.masks, "test_names": test.names},
    )
