"""An app whose whole-split metric (`val_score`, higher is better) is scripted per computation:
the tests of field metrics and best weights follow which epoch scored what."""

import keras
import numpy as np
import tensorflow as tf

from apps.core.app import App
from apps.core.data import DataSplits


class KernelSums(keras.callbacks.Callback):
    """The sum of the model's first weight after each epoch, by epoch (0-based)."""

    def __init__(self):
        super().__init__()
        self.by_epoch = {}

    def on_epoch_end(self, epoch, logs=None):
        self.by_epoch[epoch] = kernel_sum(self.model)


def kernel_sum(model):
    return float(np.sum(model.get_weights()[0]))


class ScriptedApp(App):
    """Scores `scores[i]` at the i-th computation of its field metric, and counts the examples it read."""

    name = "scripted"
    objective = "val_score"
    objective_direction = "max"
    field_metric_names = ("score",)
    load_tfds = load_files = None
    serving_signatures = sample_requests = request_from_cli = format_response = None

    def __init__(self, scores=(0.1, 0.5, 0.3, 0.2, 0.1)):
        self.scores = list(scores)
        self.calls = []
        self.kernel_sums = KernelSums()

    def load_builtin(self, config):
        return data_splits()

    def build_model(self, config, data):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        return model

    def train(self, model, data, config, run=None, callbacks=(), initial_epoch=0):
        return super().train(model, data, config, run, [*callbacks, self.kernel_sums], initial_epoch)

    def field_metrics(self, model, dataset, config):
        examples = sum(int(features.shape[0]) for features, _ in dataset)
        self.calls.append(examples)
        return {"score": self.scores[len(self.calls) - 1]}

    def decode_predictions(self, predictions, model):
        return {"value": predictions}

    def evaluate(self, model, data, config, run):
        return {"kernel_sum": kernel_sum(model)}


def data_splits():
    features = np.arange(40, dtype="float32").reshape(20, 2) / 40
    dataset = tf.data.Dataset.from_tensor_slices((features, features[:, :1])).batch(4)
    return DataSplits(
        train=dataset,
        validation=dataset,
        test=dataset,
        train_examples=20,
        validation_examples=20,
        test_examples=20,
        source="scripted",
    )
