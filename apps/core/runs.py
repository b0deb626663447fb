"""Run folders: `runs/<app>/<run-id>/` with config, logs, checkpoints, model, metrics, plots."""

import datetime
import json
import math
import os
import platform
from pathlib import Path

from apps.core.atomic_write import write_whole

DEFAULT_RUNS_ROOT = "runs"


def new_run_id():
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


class Run:
    """The folder one training run writes to, and the callbacks that fill it.

    Re-opening the same folder after a crash resumes training from the last
    finished epoch (`keras.callbacks.BackupAndRestore`).
    """

    def __init__(self, app_name, run_dir=None, runs_root=DEFAULT_RUNS_ROOT):
        self.app_name = app_name
        self.path = Path(run_dir) if run_dir else Path(runs_root) / app_name / new_run_id()
        self.path.mkdir(parents=True, exist_ok=True)

    # Paths, one per artifact.
    @property
    def config_path(self):
        return self.path / "config.json"

    @property
    def model_path(self):
        return self.path / "model.keras"

    @property
    def best_checkpoint_path(self):
        return self.path / "checkpoints" / "best.keras"

    @property
    def best_record_path(self):
        """The best epoch's record (`apps.core.best_weights.BestWeights`): monitor, epoch, value."""
        return self.path / "checkpoints" / "best.json"

    @property
    def backup_dir(self):
        return self.path / "backup"

    @property
    def log_dir(self):
        return self.path / "logs"

    @property
    def history_path(self):
        return self.path / "history.csv"

    @property
    def metrics_path(self):
        return self.path / "metrics.json"

    def plot_path(self, name):
        return self.path / f"{name}.png"

    def save_config(self, config, backend):
        import keras

        record = {
            "app": self.app_name,
            "backend": backend,
            "keras": keras.__version__,
            "python": platform.python_version(),
            "config": config.to_dict(),
        }
        write_whole(self.config_path, json.dumps(record, indent=2) + "\n")

    def load_config(self, config_class):
        if not self.config_path.exists():
            raise FileNotFoundError(
                f"{self.config_path} not found: is {self.path} a run folder written by `kapps train`?"
            )
        record = json.loads(self.config_path.read_text())
        return config_class.from_dict(record["config"])

    @property
    def resuming(self):
        """True when an interrupted training left a backup to resume from."""
        return self.backup_dir.exists()

    def callbacks(self, monitor="val_loss", mode="min", extra=()):
        """Best weights (checkpointed, restored at the end), backup (resume), TensorBoard and a
        CSV history that survives resumes. A fresh training in the folder forgets the last one's."""
        import keras

        from apps.core.best_weights import BestWeights
        from apps.core.field_metrics import MeasuredTensorBoard

        self.best_checkpoint_path.parent.mkdir(exist_ok=True)
        if not self.resuming:
            for path in (self.history_path, self.best_checkpoint_path, self.best_record_path):
                path.unlink(missing_ok=True)
        return [
            BestWeights(monitor, mode, self.best_checkpoint_path, self.best_record_path),
            keras.callbacks.BackupAndRestore(str(self.backup_dir)),
            MeasuredTensorBoard(str(self.log_dir)),
            keras.callbacks.CSVLogger(str(self.history_path), append=True),
            *extra,
        ]

    @property
    def training_path(self):
        return self.path / "training.json"

    def save_metrics(self, metrics):
        write_whole(self.metrics_path, json.dumps(metrics, indent=2, default=float) + "\n")

    def load_metrics(self):
        if not self.metrics_path.exists():
            raise FileNotFoundError(
                f"{self.metrics_path} not found: evaluate the run first (`kapps {self.app_name} evaluate "
                f"--run-dir {self.path}`)."
            )
        return json.loads(self.metrics_path.read_text())

    def save_training(self, record):
        """What the model card says of the training: data source, split sizes, seconds."""
        write_whole(self.training_path, json.dumps(record, indent=2, default=str) + "\n")

    def load_training(self):
        """The training record, or {} for a run trained before it was kept."""
        return json.loads(self.training_path.read_text()) if self.training_path.exists() else {}

    def load_record(self):
        """config.json as written: app, backend, Keras and Python versions, config."""
        return json.loads(self.config_path.read_text()) if self.config_path.exists() else {}

    def load_best(self):
        """The best epoch's record of this run's training, or None (not kept, or never measured)."""
        return json.loads(self.best_record_path.read_text()) if self.best_record_path.exists() else None

    def best_records(self):
        """The best epochs of this run's training: its own record, or, for an ensemble whose
        members trained in member runs (`members/<name>/`), one per member (with `member`)."""
        own = self.load_best()
        if own is not None:
            return [own]
        paths = sorted(
            self.path.glob("members/*/checkpoints/best.json"), key=lambda path: _natural_key(path.parents[1].name)
        )
        return [{"member": path.parents[1].name, **json.loads(path.read_text())} for path in paths]

    def load_history(self):
        """Per-epoch logs from the CSV history (all epochs, across resumes): one value per epoch,
        NaN where a metric was not measured (whole-split metrics between computations)."""
        import csv

        if not self.history_path.exists():
            return {}
        rows = {}
        with open(self.history_path) as handle:
            for row in csv.DictReader(handle):
                rows[int(row["epoch"])] = row  # a resumed epoch overwrites its partial twin
        history = {}
        for epoch in sorted(rows):
            for key, value in rows[epoch].items():
                if key != "epoch":
                    history.setdefault(key, []).append(float(value) if value not in ("", None) else math.nan)
        return history


def _natural_key(name):
    """`member_10` after `member_9`."""
    head = name.rstrip("0123456789")
    return head, int(name[len(head) :] or 0)


def find_latest_run(app_name, runs_root=DEFAULT_RUNS_ROOT):
    """The newest run folder of `app_name` that holds a trained model."""
    root = Path(runs_root) / app_name
    candidates = sorted(
        (p for p in root.glob("*") if (p / "model.keras").exists()),
        key=lambda p: os.path.getmtime(p / "model.keras"),
    )
    if not candidates:
        raise FileNotFoundError(
            f"No trained {app_name} run under {root}. Train one with `kapps {app_name} train` "
            "or name it with --run-dir."
        )
    return candidates[-1]
