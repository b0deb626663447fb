"""Whole-split metrics logged as `val_*`: checkpoints, early stopping, history and the
tuner's objective see them like any Keras metric."""

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

from apps.core.app import App
from apps.core.config import AppConfig, ConfigError
from apps.core.data import DataSplits
from apps.core.field_metrics import SECONDS_LOG, FieldMetricsCallback
from apps.core.runs import Run
from tuner.hypermodel import ConfigHyperModel


class ScriptedApp(App):
    """An app whose whole-split metric is scripted per epoch, and counts the examples it read."""

    name = "scripted"
    objective = "val_score"
    objective_direction = "max"
    field_metric_names = ("score",)
    load_tfds = load_files = load_builtin = evaluate = None
    serving_signatures = sample_requests = request_from_cli = format_response = None

    def __init__(self, scores=(0.1, 0.5, 0.3, 0.2, 0.1)):
        self.scores = list(scores)
        self.calls = []

    def build_model(self, config, data):
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        return model

    def field_metrics(self, model, dataset, config):
        examples = sum(int(features.shape[0]) for features, _ in dataset)
        self.calls.append(examples)
        return {"score": self.scores[len(self.calls) - 1]}

    def decode_predictions(self, predictions, model):
        return {"value": predictions}


def _data():
    features = np.arange(40, dtype="float32").reshape(20, 2) / 40
    dataset = tf.data.Dataset.from_tensor_slices((features, features[:, :1])).batch(4)
    return DataSplits(train=dataset, validation=dataset, train_examples=20, validation_examples=20)


def test_checkpoint_and_history_follow_the_field_metric(tmp_path):
    app = ScriptedApp()
    config = AppConfig(epochs=5)
    data = _data()
    model = app.build_model(config, data)
    run = Run(app.name, tmp_path / "run")
    history = app.train(model, data, config, run=run)
    assert history.history["val_score"] == [0.1, 0.5, 0.3, 0.2, 0.1]
    assert all(seconds >= 0 for seconds in history.history[SECONDS_LOG])
    assert run.load_history()["val_score"] == [0.1, 0.5, 0.3, 0.2, 0.1]
    assert run.best_checkpoint_path.exists()
    best = keras.saving.load_model(run.best_checkpoint_path)
    assert best.optimizer.iterations.numpy() == 2 * 5  # saved after epoch 2, the best score


def test_early_stopping_reads_the_field_metric():
    app = ScriptedApp(scores=(0.9, 0.1, 0.1, 0.1, 0.1))
    stop = keras.callbacks.EarlyStopping(monitor="val_score", mode="max", patience=1)
    config = AppConfig(epochs=5)
    data = _data()
    history = app.train(app.build_model(config, data), data, config, callbacks=[stop])
    assert len(history.history["val_score"]) == 2


def test_cost_is_bounded_by_every_and_examples():
    app = ScriptedApp()
    config = AppConfig(epochs=5, field_metrics_every=2, field_metrics_examples=8)
    data = _data()
    history = app.train(app.build_model(config, data), data, config)
    assert app.calls == [8, 8, 8, 8]  # epochs 1, 2, 4 and the last; two batches of 4
    assert history.history["val_score"] == [0.1, 0.5, 0.5, 0.3, 0.2]  # repeated in between


def test_a_missing_field_metric_is_an_error():
    class Forgetful(ScriptedApp):
        def field_metrics(self, model, dataset, config):
            return {}

    app = Forgetful()
    config = AppConfig(epochs=1)
    data = _data()
    with pytest.raises(ValueError, match="score"):
        app.train(app.build_model(config, data), data, config)


def test_the_tuner_can_use_a_field_metric_as_objective():
    app = ScriptedApp(scores=[0.5] * 10)
    hypermodel = ConfigHyperModel(app, AppConfig(epochs=1), _data())
    assert "val_score" in hypermodel.metric_names(keras_tuner.HyperParameters())


def test_apps_without_field_metrics_refuse_their_flags():
    class Plain(ScriptedApp):
        field_metric_names = ()

    with pytest.raises(ConfigError, match="--field-metrics-every"):
        Plain().check_config(AppConfig(field_metrics_every=3))
    assert ScriptedApp().check_config(AppConfig(field_metrics_every=3)).field_metrics_every == 3


def test_callback_without_logs_does_nothing():
    callback = FieldMetricsCallback(ScriptedApp(), _data().validation, AppConfig())
    callback.on_epoch_end(0, None)
