"""The weights a training hands over are those of its best epoch on the app's objective.

`BestWeights` does what Keras' `EarlyStopping(restore_best_weights=True)` does without
stopping anything: it keeps the weights of the epoch that scored best on the monitored
metric and puts them back when training ends, so whatever follows `fit` (thresholds,
ensemble weights, `model.keras`, evaluation, export) sees them. Only measured epochs compete:
a whole-split metric is NaN on the epochs it is not computed (`apps.core.field_metrics`).

Given a run folder's paths it also saves the best model (`checkpoints/best.keras`) and its
record (`checkpoints/best.json`: monitor, epoch, value) at each improvement, so a run killed
and resumed in the same folder still competes with, and restores, an epoch before the kill.
"""

import json
import math

import keras

from apps.core.atomic_write import write_whole


class BestWeights(keras.callbacks.Callback):
    """Restores the weights of the best measured epoch on `monitor` at the end of training.

    Args:
        monitor: the logged metric to follow (`val_accuracy`, `val_map50`, `val_fid`...).
        mode: `max` or `min`, the direction of a better value.
        checkpoint_path: where to save the best model (None: kept in memory only).
        record_path: where to write the best epoch's record (with `checkpoint_path`).
    """

    def __init__(self, monitor, mode, checkpoint_path=None, record_path=None):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"BestWeights mode must be 'max' or 'min', got {mode!r}.")
        self.monitor, self.mode = monitor, mode
        self.checkpoint_path, self.record_path = checkpoint_path, record_path
        self.record, self.weights, self.last_epoch = None, None, None

    def on_train_begin(self, logs=None):
        self.record, self.weights, self.last_epoch = self._recorded(), None, None

    def _recorded(self):
        """The best epoch an interrupted fit of this run recorded, if any."""
        if self.record_path is None or not self.record_path.exists() or not self.checkpoint_path.exists():
            return None
        record = json.loads(self.record_path.read_text())
        return record if record.get("monitor") == self.monitor else None

    def _better(self, value):
        if self.record is None:
            return True
        return value > self.record["value"] if self.mode == "max" else value < self.record["value"]

    def on_epoch_end(self, epoch, logs=None):
        self.last_epoch = epoch + 1
        value = (logs or {}).get(self.monitor)
        if value is None or not math.isfinite(float(value)) or not self._better(float(value)):
            return
        self.record = {"monitor": self.monitor, "mode": self.mode, "epoch": epoch + 1, "value": float(value)}
        self.weights = self.model.get_weights()
        if self.checkpoint_path is not None:
            self.model.save(self.checkpoint_path)
            self._write_record()

    def on_train_end(self, logs=None):
        if self.weights is not None:
            self.model.set_weights(self.weights)
        elif self.record is not None:  # the best epoch came before a resume
            self.model.load_weights(self.checkpoint_path)
        if self.record is None:
            return
        if self.params.get("verbose"):
            print(
                f"Restored the weights of epoch {self.record['epoch']}, the best {self.monitor} "
                f"({self.record['value']:.4f}).",
                flush=True,
            )
        if self.record_path is not None and self.last_epoch is not None:
            self.record["last_epoch"] = self.last_epoch
            self._write_record()
        self.weights = None  # the copy is no longer needed

    def _write_record(self):
        write_whole(self.record_path, json.dumps(self.record, indent=2) + "\n")
