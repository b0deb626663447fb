"""`--distribute`: the engines, their step equivalence with one device, and clear refusals."""

import json

import numpy as np
import pytest

from apps.core.config import AppConfig, ConfigError
from apps.core.distribute import Distribution, check_distribute, cluster_spec, start_distribution

# The engine each backend trains with on the test process's two devices (tests/conftest.py).
ENGINE = {"tensorflow": "mirrored", "jax": "data-parallel"}
GLOBAL_BATCH = 16
STEPS = 4
# float32 gradients summed in another order: the replicas' weights differ only by rounding.
TOLERANCE = 1e-5


def _backend():
    import keras

    return keras.backend.backend()


def _dense_model():
    """No batch-statistics layer: a replica's half batch gives the same update as its share of
    one device's whole batch."""
    import keras

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), loss="mse")
    return model


def _train(distribution, initial_weights, features, targets):
    import tensorflow as tf

    with distribution.scope():
        model = _dense_model()
        model.set_weights(initial_weights)
    dataset = tf.data.Dataset.from_tensor_slices((features, targets)).batch(GLOBAL_BATCH)
    model.fit(dataset, epochs=1, shuffle=False, verbose=0)
    return model.get_weights()


@pytest.mark.multibackend
def test_two_replicas_take_the_same_steps_as_one_device():
    if _backend() not in ENGINE:
        pytest.skip("PyTorch has no --distribute engine (tested below)")
    rng = np.random.default_rng(0)
    features = rng.normal(size=(GLOBAL_BATCH * STEPS, 8)).astype("float32")
    targets = (features @ rng.normal(size=(8, 1))).astype("float32")
    initial = _dense_model().get_weights()
    distributed = start_distribution(AppConfig(distribute=ENGINE[_backend()], replicas=2))
    assert distributed.replicas == 2
    one_device = _train(Distribution(), initial, features, targets)
    two_replicas = _train(distributed, initial, features, targets)
    moved = max(np.abs(after - before).max() for after, before in zip(one_device, initial))
    assert moved > 0.01  # the steps did change the weights
    error = max(np.abs(a - b).max() for a, b in zip(one_device, two_replicas))
    assert error < TOLERANCE, f"2 replicas differ from 1 device by {error}"


@pytest.mark.multibackend
def test_batches_are_cut_to_a_multiple_of_the_replicas():
    import tensorflow as tf

    from apps.core.data import DataSplits

    images = tf.data.Dataset.from_tensor_slices((np.zeros((11, 2), "float32"), np.arange(11))).batch(4)
    data = DataSplits(train=images, validation=images.take(1).unbatch().batch(3), validation_examples=3)
    evened = Distribution("mirrored", replicas=2).split_evenly(data)
    assert [int(y.shape[0]) for _, y in evened.train] == [4, 4, 2]
    assert [int(y.shape[0]) for _, y in evened.validation] == [2]
    assert Distribution().split_evenly(data) is data


def test_each_engine_names_its_backend():
    for kind, backend in [("mirrored", "jax"), ("multi-worker", "torch"), ("data-parallel", "tensorflow")]:
        with pytest.raises(ConfigError, match="--backend"):
            check_distribute(AppConfig(distribute=kind), backend)
    check_distribute(AppConfig(), "torch")  # one device runs everywhere


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"distribute": "horovod"}, "must be one of"),
        ({"replicas": 2}, "needs --distribute"),
        ({"distribute": "mirrored", "replicas": 3, "batch_size": 128}, "split evenly"),
        ({"distribute": "mirrored", "replicas": -1}, "0 \\(every device\\)"),
    ],
)
def test_bad_distribution_flags_are_config_errors(changes, message):
    with pytest.raises(ConfigError, match=message):
        AppConfig(**changes).validate()


def test_multi_worker_needs_a_cluster_spec(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="TF_CONFIG"):
        cluster_spec()
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="not a cluster spec"):
        cluster_spec()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}))
    with pytest.raises(ConfigError, match="chief or worker"):
        cluster_spec()


def test_workers_write_beside_the_chief(tmp_path):
    assert Distribution("multi-worker", 2, worker_index=0).run_dir(tmp_path) == tmp_path
    assert Distribution("multi-worker", 2, worker_index=1, is_chief=False).run_dir(tmp_path) == str(
        tmp_path / "worker-1"
    )


def test_a_search_refuses_to_distribute_trials(tmp_path):
    from apps.catalog import load_apps
    from tuner.search import run_search
    from tuner.settings import TuneSettings

    app = load_apps().get("digits")
    config = app.tiny_config().replace(distribute="mirrored")
    with pytest.raises(ConfigError, match="chief/worker"):
        run_search(app, config, TuneSettings(tune_dir=str(tmp_path)))
