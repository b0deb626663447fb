"""Whole-split metrics (mAP, mean IoU, FID...) logged as `val_*` at the end of an epoch.

Keras metrics are averaged batch by batch; a field's standard metrics need the
whole split at once. `FieldMetricsCallback` asks the app for them at the end of
an epoch and writes them into the epoch's logs before any other callback reads
them, so the best-weights checkpoint, early stopping, TensorBoard, the CSV history and
Keras Tuner's objective all see them (the idea of Model Garden's `aggregate_logs` /
`reduce_aggregated_logs`). On epochs they are not computed they are NaN: the history
says "not measured", and no comparison counts them as better or worse.
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
    the last one, on at most `config.field_metrics_examples` validation examples (0: all).
    In between they are NaN (not measured), so the epochs keep their place in Keras'
    `History` and the CSV history; NaN is never better than a value (`BestWeights`,
    Keras Tuner) and `MeasuredEarlyStopping` does not count it. `field_metrics_seconds`
    logs the cost, NaN as well when nothing was computed.

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

    @property
    def log_names(self):
        return [f"val_{name}" for name in self.app.field_metric_names] + [SECONDS_LOG]

    def _due(self, epoch):
        last_epoch = self.params.get("epochs") if self.params else None
        return epoch == 0 or (epoch + 1) % self.every == 0 or epoch + 1 == last_epoch

    def compute(self):
        """`{val_<name>: value, field_metrics_seconds: seconds}` for the model as it is now."""
        start = time.perf_counter()
        values = self.app.field_metrics(self.model, self.dataset, self.config)
        missing = set(self.app.field_metric_names) - set(values)
        if missing:
            raise ValueError(f"{type(self.app).__name__}.field_metrics did not return {sorted(missing)}.")
        logs = {f"val_{name}": float(values[name]) for name in self.app.field_metric_names}
        logs[SECONDS_LOG] = time.perf_counter() - start
        return logs

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs.update(self.compute() if self._due(epoch) else dict.fromkeys(self.log_names, math.nan))


class MeasuredEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' `EarlyStopping` that skips the epochs whose monitored value is NaN: a whole-split
    metric's unmeasured epochs neither improve nor count toward `patience` (which therefore
    counts measurements)."""

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and math.isnan(float(value)):
            return
        super().on_epoch_end(epoch, logs)


class MeasuredTensorBoard(keras.callbacks.TensorBoard):
    """Keras' `TensorBoard` without the NaN of unmeasured epochs: a whole-split metric's chart
    has points only where it was computed."""

    def on_epoch_end(self, epoch, logs=None):
        measured = {
            key: value for key, value in (logs or {}).items() if not (isinstance(value, float) and math.isnan(value))
        }
        super().on_epoch_end(epoch, measured)
