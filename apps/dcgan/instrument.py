"""The FID instrument: a classifier of the dataset's classes, trained apart from any GAN and cached.

The instrument trains once per dataset (identified by a checksum of its files, its TFDS name
and version, or the builtin arrays), image size, channels and classifier settings, with its
own seed and its own pass over the data: every split but `test` (not the GAN's training
split, so `--max-examples`, `--validation-fraction` and `--seed` of a run do not change it).
It is measured on the `test` split: its accuracy there, and the floor, the FID between the
features of real training and real test images (as many of each). Both are stored beside
the network in the cache folder (`$KAPPS_CACHE_DIR`, by default `~/.cache/kapps`), so every
run, tuner trial and benchmark on that dataset measures with the same network.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import keras
import numpy as np

from apps.dcgan import fid as fid_lib

CACHE_ENV = "KAPPS_CACHE_DIR"
CACHE_FOLDER = "dcgan_fid"
CLASSIFIER_FILE = "classifier.keras"
FACTS_FILE = "instrument.json"
# Changing the classifier's architecture or training changes this, so old caches are not reused.
RECIPE = "convnet-bn-augment-v1"
SEED = 0
LEARNING_RATE = 2e-3
BATCH_SIZE = 128
TRANSLATION = 0.1
ROTATION = 0.04
# Below this test accuracy the classifier confuses classes too often for its FID to mean much.
WEAK_ACCURACY = 0.95
FLOOR_EXAMPLES = 10_000


@dataclasses.dataclass
class Instrument:
    """The classifier whose features FID uses, with what it was measured at on the test split.

    Attributes:
        classifier: images in [-1, 1] → `[features, class probabilities]`.
        accuracy: its accuracy on the dataset's test split (None without one).
        real_floor: FID between real training and real test images' features (None without a test split).
        floor_examples: images of each side of that floor.
        path: its cache folder.
    """

    classifier: keras.Model
    accuracy: float | None
    real_floor: float | None
    floor_examples: int
    path: Path

    @property
    def weak(self):
        return self.accuracy is None or self.accuracy < WEAK_ACCURACY

    def describe(self):
        accuracy = "no test split" if self.accuracy is None else f"test accuracy {self.accuracy:.2%}"
        floor = (
            ""
            if self.real_floor is None
            else (f", real-vs-real floor {self.real_floor:.2f} ({self.floor_examples} train vs test images)")
        )
        return f"FID instrument: {accuracy}{floor} ({self.path})"

    def warning(self):
        """A one-line warning when the instrument is too weak for its FID to be trusted, else ''."""
        if not self.weak:
            return ""
        accuracy = "cannot be measured (no test split)" if self.accuracy is None else f"is {self.accuracy:.1%}"
        return (
            f"Warning: the FID classifier's test accuracy {accuracy}, under {WEAK_ACCURACY:.0%}: "
            "its FIDs say little; train it longer (--fid-classifier-epochs) or on labelled data."
        )


def cache_root():
    return Path(os.environ.get(CACHE_ENV) or Path("~/.cache/kapps").expanduser())


def _hash_folder(digest, folder):
    folder = Path(folder)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(2**20), b""):
                digest.update(chunk)


def dataset_identity(source):
    """A checksum of the data a parsed `--data` source names: its files' contents (files:, records:),
    the TFDS name and version, or the builtin arrays."""
    digest = hashlib.sha256(f"{source.kind}\0".encode())
    if source.kind in ("files", "records"):
        _hash_folder(digest, source.argument)
    elif source.kind == "tfds":
        import tensorflow_datasets as tfds

        builder = tfds.builder(source.argument)
        digest.update(f"{builder.name}:{builder.info.version}".encode())
    else:
        from apps.digits.data import builtin_arrays

        for images, labels in builtin_arrays():
            digest.update(images.tobytes() + labels.tobytes())
    return digest.hexdigest()


def instrument_key(source, config):
    """The cache key: the dataset's identity and every setting that shapes the classifier."""
    settings = {
        "data": dataset_identity(source),
        "recipe": RECIPE,
        "seed": SEED,
        "image_size": config.image_size,
        "channels": config.channels,
        "width": config.fid_classifier_width,
        "epochs": config.fid_classifier_epochs,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]


def _augmenter():
    layers = keras.layers
    # A Pipeline, not a Sequential: in tf.data it runs on TensorFlow whatever the Keras backend.
    return keras.layers.Pipeline(
        [
            layers.RandomTranslation(TRANSLATION, TRANSLATION, fill_mode="constant", fill_value=-1.0, seed=SEED),
            layers.RandomRotation(ROTATION, fill_mode="constant", fill_value=-1.0, seed=SEED + 1),
        ],
        name="augment",
    )


def train_classifier(examples, count, num_classes, config):
    """`fid.build_classifier`'s network trained on the stream of `count` unbatched `(uint8 image,
    label)`: shuffled with the instrument's own seed, shifted and rotated a little, Adam with a
    cosine-decayed learning rate for `fid_classifier_epochs`."""
    from apps.core.data import AUTOTUNE, prefetched
    from apps.dcgan.data import SHUFFLE_BUFFER, to_unit_range

    keras.utils.set_random_seed(SEED)
    classifier = fid_lib.build_classifier(config.image_size, config.channels, num_classes, config.fid_classifier_width)
    trainer = keras.Model(classifier.input, classifier.output[1])
    steps = config.fid_classifier_epochs * -(-count // BATCH_SIZE)
    trainer.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(LEARNING_RATE, steps)),
        loss="sparse_categorical_crossentropy",
    )
    augment = _augmenter()
    batches = (
        examples.shuffle(min(count, SHUFFLE_BUFFER), seed=SEED, reshuffle_each_iteration=True)
        .batch(BATCH_SIZE)
        .map(
            lambda images, labels: (augment(to_unit_range(images), training=True), labels), num_parallel_calls=AUTOTUNE
        )
    )
    trainer.fit(prefetched(batches), epochs=config.fid_classifier_epochs, shuffle=False, verbose=0)
    return classifier


def measure(classifier, train_examples, test_examples, count):
    """`(test accuracy, real-vs-real floor, images per side)`: the floor on the first `count` of each."""
    from apps.dcgan.data import to_unit_range

    right = seen = 0
    test = fid_lib.FeatureMoments()
    for images, labels in test_examples.batch(256):
        features, probabilities = fid_lib.classify(classifier, keras.ops.convert_to_numpy(to_unit_range(images)))
        right += int(np.sum(np.argmax(probabilities, -1) == keras.ops.convert_to_numpy(labels)))
        if test.count < count:
            test.update(features[: count - test.count])
        seen += len(features)
    train = fid_lib.real_moments(classifier, train_examples, test.count)
    return right / seen, fid_lib.frechet_distance(*train.gaussian(), *test.gaussian()), test.count


def _build(app, source, config):
    """Trains and measures the instrument on the source's own splits (all of them, at the instrument's seed)."""
    from apps.dcgan.data import decoded_examples

    own = config.replace(max_examples=0, validation_fraction=0.0, seed=SEED)
    raw = app.raw_splits(source, own)
    train_splits = [split for split in raw.splits if split != "test"]
    train = decoded_examples(raw.splits[train_splits[0]], raw.counts[train_splits[0]], own, training=True)
    for split in train_splits[1:]:
        train = train.concatenate(decoded_examples(raw.splits[split], raw.counts[split], own, training=False))
    count = sum(raw.counts[split] for split in train_splits)
    classifier = train_classifier(train, count, max(len(raw.class_names), 1), own)
    if "test" not in raw.splits:
        return classifier, None, None, 0
    test = decoded_examples(raw.splits["test"], raw.counts["test"], own, training=False)
    unshuffled = decoded_examples(raw.splits[train_splits[0]], raw.counts[train_splits[0]], own, training=False)
    return (classifier, *measure(classifier, unshuffled, test, FLOOR_EXAMPLES))


_LOADED = {}


def instrument_for(app, config, log=print):
    """The instrument of `config`'s data and classifier settings: from memory, from the cache
    folder, or trained (and cached) now."""
    from apps.core.data import DataSource

    source = DataSource.parse(config.data)
    key = instrument_key(source, config)
    if key in _LOADED:
        return _LOADED[key]
    folder = cache_root() / CACHE_FOLDER / key
    if not (folder / FACTS_FILE).exists():
        log(f"Training the FID classifier on {config.data} (once per dataset; cached in {folder}) ...")
        classifier, accuracy, floor, examples = _build(app, source, config)
        _save(
            folder,
            classifier,
            {
                "data": config.data,
                "accuracy": accuracy,
                "real_floor": floor,
                "floor_examples": examples,
                "recipe": RECIPE,
                "width": config.fid_classifier_width,
                "epochs": config.fid_classifier_epochs,
            },
        )
    facts = json.loads((folder / FACTS_FILE).read_text())
    instrument = Instrument(
        keras.saving.load_model(folder / CLASSIFIER_FILE),
        facts["accuracy"],
        facts["real_floor"],
        facts["floor_examples"],
        folder,
    )
    _LOADED[key] = instrument
    log(instrument.describe())
    if instrument.warning():
        log(instrument.warning())
    return instrument


def _save(folder, classifier, facts):
    """Writes the classifier and its facts into a temporary folder, then moves it into place
    (parallel runs on the same dataset never read a half-written cache)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
    classifier.save(staging / CLASSIFIER_FILE)
    (staging / FACTS_FILE).write_text(json.dumps(facts, indent=2))
    try:
        staging.rename(folder)
    except OSError:  # another process cached it first
        shutil.rmtree(staging, ignore_errors=True)
