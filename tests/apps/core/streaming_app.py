"""A small stand-in streaming App for the records and tf.data service tests: tiny PNG files
named `<class>_<n>.png` in `train/` and `test/`, read inside tf.data from an index of paths."""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from apps.core.app import App
from apps.core.config import AppConfig
from apps.core.data import DataSplits, RawSplits, prefetched

CLASS_NAMES = ("circle", "square", "line")
SIZE = 8


def write_png_folder(root, train_per_class=12, test_per_class=3, seed=0):
    """Random 8×8 grey PNGs whose mean brightness depends on their class (a learnable task)."""
    rng = np.random.default_rng(seed)
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        (Path(root) / split).mkdir(parents=True)
        for label, name in enumerate(CLASS_NAMES):
            for index in range(count):
                pixels = rng.integers(0, 80, (SIZE, SIZE, 1)) + 80 * label
                png = tf.io.encode_png(pixels.astype(np.uint8)).numpy()
                (Path(root) / split / f"{name}_{index:03d}.png").write_bytes(png)
    return Path(root)


def _index(folder):
    paths = sorted(str(path) for path in Path(folder).glob("*.png"))
    labels = [CLASS_NAMES.index(Path(path).stem.rsplit("_", 1)[0]) for path in paths]
    return np.array(paths), np.array(labels, dtype=np.int64)


def _raw(paths, labels):
    index = tf.data.Dataset.from_tensor_slices((paths, labels))
    return index.map(
        lambda path, label: {"image": tf.io.read_file(path), "label": label, "name": tf.strings.split(path, "/")[-1]}
    )


class StreamingApp(App):
    name = "stand-in"
    title = "Stand-in streaming app (tests)"
    config_class = AppConfig
    record_features = {"image": (tf.string, ()), "label": (tf.int64, ()), "name": (tf.string, ())}

    def default_config(self):
        return AppConfig(data="files:missing", epochs=1, batch_size=8, validation_fraction=0.25, learning_rate=0.05)

    def load_files(self, path, config):
        paths, labels = _index(Path(path) / "train")
        order = np.random.default_rng(config.seed).permutation(len(paths))
        held = int(round(len(paths) * config.validation_fraction))
        test_paths, test_labels = _index(Path(path) / "test")
        splits = {
            "train": _raw(paths[order[held:]], labels[order[held:]]),
            "validation": _raw(paths[order[:held]], labels[order[:held]]),
            "test": _raw(test_paths, test_labels),
        }
        counts = {"train": len(paths) - held, "validation": held, "test": len(test_paths)}
        return RawSplits(
            splits,
            counts,
            CLASS_NAMES,
            f"files:{path}",
            {"validation_fraction": config.validation_fraction, "seed": config.seed},
        )

    def load_tfds(self, name, config):
        raise NotImplementedError

    def load_builtin(self, config):
        raise NotImplementedError

    def splits_from_raw(self, raw, config):
        def decode(example):
            image = tf.cast(tf.io.decode_png(example["image"], channels=1), tf.float32) / 255.0
            return tf.reshape(image, (SIZE, SIZE, 1)), tf.one_hot(example["label"], len(CLASS_NAMES))

        def pipeline(split, training):
            dataset = raw.splits[split].map(decode, num_parallel_calls=tf.data.AUTOTUNE)
            if training:
                dataset = dataset.shuffle(256, seed=config.seed)
            return prefetched(dataset.batch(config.batch_size))

        return DataSplits(
            pipeline("train", True),
            pipeline("validation", False),
            pipeline("test", False),
            raw.class_names,
            raw.counts["train"],
            raw.counts["validation"],
            raw.counts["test"],
            raw.source,
            {"details": raw.details},
        )

    def build_model(self, config, data):
        model = keras.Sequential(
            [
                keras.Input((SIZE, SIZE, 1)),
                keras.layers.Flatten(),
                keras.layers.Dense(len(CLASS_NAMES), activation="softmax"),
            ]
        )
        model.compile(keras.optimizers.Adam(config.learning_rate), "categorical_crossentropy")
        return model

    def decode_predictions(self, predictions, model):
        return {"probabilities": predictions}

    def evaluate(self, model, data, config, run):
        return {"loss": float(model.evaluate(data.test, verbose=0))}

    def serving_signatures(self, model, config):
        raise NotImplementedError

    def sample_requests(self, config):
        return []

    def request_from_cli(self, items):
        raise NotImplementedError

    def format_response(self, outputs, items):
        return ""
