"""Whole-split metrics logged as `val_*`: checkpoints, early stopping, history and the
tuner's objective see them like any Keras metric, and only on the epochs they were measured."""

import math

import keras
import keras_tuner
import pytest

from apps.core.config import AppConfig
from apps.core.field_metrics import SECONDS_LOG, FieldMetricsCallback, MeasuredEarlyStopping
from apps.core.runs import Run
from tests.apps.core.scripted_app import ScriptedApp, data_splits
from tuner.hypermodel import ConfigHyperModel


def _data():
    return data_splits()


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
    assert _nan_as_none(history.history["val_score"]) == [0.1, 0.5, None, 0.3, 0.2]  # not measured: NaN
    assert math.isnan(history.history[SECONDS_LOG][2])


def _nan_as_none(values):
    return [None if math.isnan(value) else value for value in values]


def test_history_csv_holds_nan_where_not_measured(tmp_path):
    app = ScriptedApp(scores=(0.2, 0.9, 0.1, 0.3))
    config = AppConfig(epochs=6, field_metrics_every=2)
    data = _data()
    run = Run(app.name, tmp_path / "run")
    app.train(app.build_model(config, data), data, config, run=run)
    history = run.load_history()
    assert _nan_as_none(history["val_score"]) == [0.2, 0.9, None, 0.1, None, 0.3]
    assert len(history["loss"]) == 6
    assert "nan" in run.history_path.read_text()
    assert run.load_best()["epoch"] == 2  # 0.9; the unmeasured epochs 3 and 5 never count


def test_early_stopping_counts_measured_epochs_only():
    def epochs_trained(stopping_class):
        app = ScriptedApp(scores=(0.9, 0.1, 0.1, 0.1, 0.1))
        config = AppConfig(epochs=8, field_metrics_every=2)
        data = _data()
        stop = stopping_class(monitor="val_score", mode="max", patience=2)
        return len(app.train(app.build_model(config, data), data, config, callbacks=[stop]).history["loss"])

    # Measured after epochs 1, 2, 4: two measurements without a better score by epoch 4.
    assert epochs_trained(MeasuredEarlyStopping) == 4
    assert epochs_trained(keras.callbacks.EarlyStopping) == 3  # Keras counts the unmeasured epoch 3


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


def test_callback_without_logs_does_nothing():
    callback = FieldMetricsCallback(ScriptedApp(), _data().validation, AppConfig())
    callback.on_epoch_end(0, None)


def test_tensorboard_shows_measured_epochs_only(tmp_path):
    import tensorflow as tf

    app = ScriptedApp(scores=(0.2, 0.9, 0.1, 0.3))
    config = AppConfig(epochs=6, field_metrics_every=2)
    data = _data()
    run = Run(app.name, tmp_path / "run")
    app.train(app.build_model(config, data), data, config, run=run)
    steps = [
        event.step
        for path in (run.log_dir / "validation").glob("events.*")
        for event in tf.compat.v1.train.summary_iterator(str(path))
        for value in event.summary.value
        if value.tag == "epoch_score"
    ]
    assert sorted(steps) == [0, 1, 3, 5]
