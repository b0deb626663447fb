"""ConfigHyperModel: chooses config values (the optimizer, batch size and epochs
included) and trains with them through the app's own `App.train`."""

import keras
import keras_tuner
import numpy as np
import pytest
import tensorflow as tf

from apps.core.app import App
from apps.core.config import AppConfig
from apps.core.data import DataSplits, rebatch
from tuner.hypermodel import ConfigHyperModel, TrainingSpace, count_examples


class TinyApp(App):
    """Just enough of the App contract: a dense classifier built from the config, trained
    by the base `App.train` with a record of every call."""

    name = "tiny"
    load_tfds = load_files = load_builtin = evaluate = None
    serving_signatures = sample_requests = request_from_cli = format_response = None
    decode_predictions = None

    def __init__(self):
        self.trained = []

    def build_model(self, config, data):
        import keras

        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
        model.compile(optimizer=config.optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.built_with = config
        return model

    def search_space(self, hp, config):
        return config.replace(model=hp.Choice("model", ["small", "large"]))

    def train(self, model, data, config, run=None, callbacks=(), initial_epoch=0):
        self.trained.append((config, run))
        return super().train(model, data, config, run, callbacks, initial_epoch)


def _data(batch_size):
    features = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    labels = (features[:, 0] > 0).astype("int64")
    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(batch_size)
    return DataSplits(train=dataset, validation=dataset, info={})


def _hypermodel(space=None, batch_size=8):
    config = AppConfig(batch_size=batch_size, epochs=3, optimizer="adam")
    return ConfigHyperModel(TinyApp(), config, _data(batch_size), training_space=space or TrainingSpace())


def test_shared_choices_are_declared_with_the_config_defaults():
    hypermodel = _hypermodel()
    hp = keras_tuner.HyperParameters()
    config = hypermodel.config_for(hp)
    assert set(hp.values) == {"model", "optimizer", "learning_rate", "batch_size", "epochs"}
    assert config.optimizer == "adam" and config.batch_size == 8 and config.epochs == 3
    optimizers = {p.name: p for p in hp.space}["optimizer"].values
    assert set(optimizers) >= {"adam", "rmsprop", "adagrad", "sgd"}
    assert set({p.name: p for p in hp.space}["batch_size"].values) == {4, 8, 16}


def test_chosen_values_reach_the_config_and_build_model():
    hypermodel = _hypermodel()
    hp = keras_tuner.HyperParameters()
    hypermodel.config_for(hp)
    hp.values.update(optimizer="sgd", batch_size=16, epochs=2, model="large")
    model = hypermodel.build(hp)
    assert model.built_with.optimizer == "sgd" and model.built_with.model == "large"
    batch_sizes = []
    record = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda batch, logs: batch_sizes.append(batch))
    history = hypermodel.fit(hp, model, verbose=0, callbacks=[record])
    assert len(history.history["loss"]) == 2
    assert batch_sizes == [0, 1, 2, 0, 1, 2]  # 40 examples in batches of 16, twice
    ((trained_config, run),) = hypermodel.app.trained
    assert trained_config.batch_size == 16 and trained_config.epochs == 2 and run is None


def test_trials_cannot_bypass_the_apps_training():
    hypermodel = _hypermodel()
    hp = keras_tuner.HyperParameters()
    with pytest.raises(TypeError, match="App.train"):
        hypermodel.fit(hp, hypermodel.build(hp), np.zeros((4, 4)))


def test_metric_names_come_from_one_batch_of_the_apps_training():
    hypermodel = _hypermodel()
    names = hypermodel.metric_names(keras_tuner.HyperParameters())
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(names)
    assert hypermodel.app.trained[0][0].epochs == 1


def test_hyperband_keeps_the_epochs_and_the_tuner_may_pass_them():
    hypermodel = _hypermodel(TrainingSpace(max_epochs=5, tune_epochs=False))
    hp = keras_tuner.HyperParameters()
    assert hypermodel.config_for(hp).epochs == 5 and "epochs" not in hp.values
    history = hypermodel.fit(hp, hypermodel.build(hp), epochs=2, initial_epoch=1, verbose=0)
    assert len(history.history["loss"]) == 1


def test_fixed_values_override_the_space():
    hypermodel = _hypermodel()
    hp = keras_tuner.HyperParameters()
    hp.Fixed("batch_size", 5)
    hp.Fixed("model", "tiny")
    config = hypermodel.config_for(hp)
    assert config.batch_size == 5 and config.model == "tiny"


def test_rebatch_keeps_every_example_and_pads_variable_lengths():
    dataset = tf.data.Dataset.range(10).batch(3)
    assert [len(batch) for batch in rebatch(dataset, 4)] == [4, 4, 2]
    assert count_examples(dataset) == 10
    assert int(rebatch(dataset, 4, examples_count=10).cardinality()) == 3
    assert rebatch(dataset, 4).options().autotune.enabled is False  # apps.core.data.prefetched says why
    ragged = tf.data.Dataset.from_generator(
        lambda: iter([[1], [1, 2], [1, 2, 3]]), output_signature=tf.TensorSpec([None], tf.int64)
    )
    batches = list(rebatch(ragged.padded_batch(1), 3))
    assert batches[0].shape == (3, 3)
