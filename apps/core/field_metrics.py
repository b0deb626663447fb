"""Whole-split metrics (mAP, mean IoU, FID...) logged as `val_*` at the end of an epoch.

Keras metrics are averaged batch by batch; a field's standard metrics need the
whole split at once. `FieldMetricsCallback` asks the app for them at the end of
an epoch and writes them into the epoch's logs before any other callback reads
them, so `ModelCheckpoint(save_best_only)`, `EarlyStopping`, TensorBoard, the CSV
history and Keras Tuner's objective all see them (the idea of Model Garden's
`aggregate_logs` / `reduce_aggregated_logs`).
"""

import math
import time

import keras

SECONDS_LOG = "field_metrics_seconds"


def limited(dataset, examples):
    """The first batches of the batched `dataset` holding about `examples` examples (0: all)."""
    if not examples:
        return dataset
    batch_size = _batch_size(dataset)
    return dataset.take(max(1, math.ceil(examples / batch_size))) if batch_size else dataset


def _batch_size(dataset):
    import tensorflow as tf

    for spec in tf.nest.flatten(dataset.element_spec):
        if spec.shape.rank and spec.shape[0] is not None:
            return int(spec.shape[0])
    first = next(iter(dataset.take(1)))
    return int(tf.shape(tf.nest.flatten(first)[0])[0])


class FieldMetricsCallback(keras.callbacks.Callback):
    """Adds `val_<name>` for each of `app.field_metrics(...)` to the epoch logs.

    Computed after the first epoch, every `config.field_metrics_every` epochs and after
    the last one, on at
    most `config.field_metrics_examples` validation examples (0: all). In between,
    the last values are repeated so monitors always find their metric (a repeated
    value never counts as an improvement). `field_metrics_seconds` logs the cost.

    Args:
        app: the App whose `field_metrics(model, dataset, config)` computes them.
        dataset: the batched validation pipeline.
        config: the run's config.
    """

    def __init__(self, app, dataset, config):
        super().__init__()
        self.app = app
        self.config = config
        self.dataset = limited(dataset, config.field_metrics_examples)
        self.every = max(1, int(config.field_metrics_every))
        self.last = {}

    def _due(self, epoch):
        last_epoch = self.params.get("epochs") if self.params else None
        return (epoch + 1) % self.every == 0 or epoch + 1 == last_epoch or not self.last

    def compute(self):
        """`{val_<name>: value, field_metrics_seconds: seconds}` for the model as it is now."""
        start = time.perf_counter()
        values = self.app.field_metrics(self.model, self.dataset, self.config)
        missing = set(self.app.field_metric_names) - set(values)
        if missing:
            raise ValueError(f"{type(self.app).__name__}.field_metrics did not return {sorted(missing)}.")
        logs = {f"val_{name}": float(value) for name, value in values.items()}
        logs[SECONDS_LOG] = time.perf_counter() - start
        return logs

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        if self._due(epoch):
            self.last = self.compute()
        logs.update(self.last)
