"""What the training benchmarks share: a wall-clock budget in whole epochs, per-epoch seconds, and the
line that says which data they train on. Import it after the Keras backend is chosen."""

import time

import keras


class TimeLimit(keras.callbacks.Callback):
    """Stops training after the last epoch that fits in `seconds` (judged by the slowest epoch
    so far); counts the epochs and prints each one with the logs `show(key)` picks."""

    def __init__(self, seconds, show=lambda key: key in ("loss", "val_loss")):
        super().__init__()
        self.seconds, self.show = seconds, show
        self.epochs = 0
        self.slowest = 0.0

    def on_train_begin(self, logs=None):
        self.started = self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1
        now = time.perf_counter()
        self.slowest, self.epoch_started = max(self.slowest, now - self.epoch_started), now
        elapsed = now - self.started
        shown = {key: round(float(value), 4) for key, value in (logs or {}).items() if self.show(key)}
        print(f"  epoch {epoch + 1}: {elapsed:.0f} s {shown}", flush=True)
        if elapsed + self.slowest > self.seconds:
            self.model.stop_training = True


class EpochClock(keras.callbacks.Callback):
    """Keeps the seconds of each training epoch in `seconds`."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.started)


def data_line(data, unit="images"):
    """The backend and the source and sizes of the splits, in one line."""
    return (
        f"backend {keras.backend.backend()}, {data.source}: {data.train_examples} train / "
        f"{data.validation_examples} validation / {data.test_examples} test {unit}"
    )
