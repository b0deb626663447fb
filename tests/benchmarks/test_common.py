"""The benchmarks' shared callbacks: the wall-clock budget in whole epochs and the epoch clock."""

import time

import keras
import numpy as np

from benchmarks.common import EpochClock, TimeLimit


class SlowEpochs(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        time.sleep(0.2)


def _fit(callbacks, epochs=10):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    inputs = np.zeros((4, 2), "float32")
    return model.fit(inputs, inputs[:, :1], epochs=epochs, verbose=0, callbacks=callbacks)


def test_time_limit_stops_before_an_epoch_would_overrun(capsys):
    limit = TimeLimit(1.0)
    history = _fit([SlowEpochs(), limit])  # 0.2 s epochs or more in a 1 s budget
    assert limit.epochs == len(history.epoch) < 10
    assert limit.epoch_started - limit.started <= 1.0 + limit.slowest  # by at most one epoch
    assert "epoch 1:" in capsys.readouterr().out


def test_epoch_clock_keeps_each_epochs_seconds():
    clock = EpochClock()
    _fit([SlowEpochs(), clock], epochs=3)
    assert len(clock.seconds) == 3
