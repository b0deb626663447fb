"""Learning-rate schedules and optimizer options shared by the apps."""

import dataclasses

import keras
import numpy as np
import pytest

from apps.core.config import AppConfig
from apps.core.optimizers import WarmupCosineRestarts, learning_rate_schedule, make_optimizer, scheduled_optimizer


def _rates(schedule, steps):
    return np.array([float(schedule(step)) for step in steps])


def test_single_cosine_by_default_reaches_zero_once():
    config = AppConfig(epochs=4, learning_rate=0.1, warmup_epochs=1.0)
    rates = _rates(learning_rate_schedule(config, steps=10), range(40))
    assert rates[0] == 0.0 and rates[10] == pytest.approx(0.1)
    assert np.all(np.diff(rates[10:]) <= 1e-9)  # decays monotonically after the warm-up


def test_two_cycles_anneal_then_restart_at_the_peak():
    config = AppConfig(epochs=10, learning_rate=0.1, warmup_epochs=1.0, first_cycle_epochs=3.0)
    rates = _rates(learning_rate_schedule(config, steps=10), range(100))
    assert rates[5] == pytest.approx(0.05)  # half-way through the warm-up
    assert rates[39] < 1e-3  # end of the first cycle (steps 10..39)
    assert rates[40] == pytest.approx(0.1)  # restart
    assert rates[99] < 1e-3 and np.all(np.diff(rates[40:]) <= 1e-9)


def test_a_training_too_short_for_two_cycles_is_one():
    config = AppConfig(epochs=4, warmup_epochs=1.0, first_cycle_epochs=3.0)
    one = AppConfig(epochs=4, warmup_epochs=1.0)
    np.testing.assert_allclose(
        _rates(learning_rate_schedule(config, steps=10), range(40)),
        _rates(learning_rate_schedule(one, steps=10), range(40)),
    )


def test_restarts_schedule_serializes():
    schedule = WarmupCosineRestarts(0.01, 5, 20, 60)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert restored.get_config() == schedule.get_config()
    np.testing.assert_allclose(_rates(restored, range(0, 90, 7)), _rates(schedule, range(0, 90, 7)))


def test_ema_option():
    optimizer = make_optimizer("adam", 1e-3, ema_momentum=0.99, ema_every_steps=7)
    assert optimizer.use_ema and optimizer.ema_momentum == 0.99
    assert optimizer.ema_overwrite_frequency == 7
    assert not make_optimizer("adam", 1e-3).use_ema
    with pytest.raises(ValueError, match="ema_momentum"):
        make_optimizer("sgd", 1e-3, ema_momentum=1.5)


def test_scheduled_optimizer_overwrites_with_the_average_each_epoch():
    config = dataclasses.replace(AppConfig(), batch_size=10, ema_momentum=0.9)
    optimizer = scheduled_optimizer(config, train_examples=95)
    assert optimizer.use_ema and optimizer.ema_overwrite_frequency == 10


@pytest.mark.parametrize("name", ["adam", "rmsprop", "adagrad", "sgd", "adamw"])
def test_weight_decay_is_applied_by_every_optimizer(name):
    from apps.core.optimizers import make_optimizer

    assert make_optimizer(name, 1e-3, weight_decay=0.01).weight_decay == pytest.approx(0.01)
    if name != "adamw":
        assert make_optimizer(name, 1e-3).weight_decay is None
