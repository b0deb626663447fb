"""The options of one search (`TuneSettings`) and the folder it writes (`TuneFolder`)."""

import dataclasses
import json
from pathlib import Path

from apps.core.runs import DEFAULT_RUNS_ROOT

TUNERS = ("random", "bayesian", "hyperband", "grid")
DIRECTIONS = ("min", "max")
ROLES = ("chief", "worker")
DEFAULT_PROJECT_NAME = "search"
KERAS_TUNER_FOLDER = "keras_tuner"
# Settings that define a search: resuming with different values would mix two searches.
IDENTITY_FIELDS = ("tuner", "objective", "direction", "fixed", "hyperband_factor")


@dataclasses.dataclass
class TuneSettings:
    """Everything `kapps <app> tune` was asked to do, apart from the app's config.

    Attributes:
        tuner: `random`, `bayesian`, `hyperband` or `grid` (Keras Tuner's tuners).
        max_trials: trials to run in all (resuming counts the finished ones);
            Hyperband derives its trial count from max_epochs and the factor instead.
        max_epochs: most epochs a trial trains; None keeps the config's `epochs`.
        objective: metric name to optimise, e.g. `val_accuracy`.
        direction: `min` or `max`; None infers it (the app's, or from the name).
        executions_per_trial: trainings per trial, averaged (noisy objectives).
        project_name: the folder under `runs/<app>/tune/`.
        tune_dir: explicit folder, instead of `runs/<app>/tune/<project_name>`.
        overwrite: start over instead of resuming.
        fixed: hyperparameter values held fixed, `{name: value}`.
        keep_checkpoints: best trials whose weights are kept; others are deleted.
        hyperband_factor: Hyperband's reduction factor.
        threads: TensorFlow intra/inter-op threads per process (0: TensorFlow's default).
        trials_per_process: a tuner process restarts itself after this many trials
            (0: never, the default), resuming the search; a safeguard for models that
            keep memory the tuner cannot give back (see `tuner.graph_memory`).
        verbose: Keras `fit` verbosity during trials.
        retrain_best: train the best config on all training examples and export it.
        retrain_max_examples: cap on examples for that training (0: all).
        model_base_path: where the retrained model is exported.
        distributed: None, `chief` or `worker` (Keras Tuner's distributed mode).
        oracle: `HOST:PORT` of the chief's oracle in distributed mode.
        tuner_id: this worker's id (stable across restarts resumes its trial).
    """

    tuner: str = "random"
    max_trials: int = 10
    max_epochs: "int | None" = None
    objective: "str | None" = None
    direction: "str | None" = None
    executions_per_trial: int = 1
    project_name: str = DEFAULT_PROJECT_NAME
    tune_dir: "str | None" = None
    overwrite: bool = False
    fixed: dict = dataclasses.field(default_factory=dict)
    keep_checkpoints: int = 1
    hyperband_factor: int = 3
    threads: int = 0
    trials_per_process: int = 0
    verbose: int = 2
    retrain_best: bool = False
    retrain_max_examples: int = 0
    model_base_path: str = "models"
    distributed: "str | None" = None
    oracle: "str | None" = None
    tuner_id: "str | None" = None

    def __post_init__(self):
        if self.tuner not in TUNERS:
            raise ValueError(f"tuner must be one of {TUNERS}, got {self.tuner!r}.")
        if self.direction not in (None, *DIRECTIONS):
            raise ValueError(f"direction must be min or max, got {self.direction!r}.")
        if self.distributed not in (None, *ROLES):
            raise ValueError(f"distributed must be chief or worker, got {self.distributed!r}.")
        if self.distributed and not self.oracle:
            raise ValueError("--distributed needs --oracle HOST:PORT.")
        for name in ("max_trials", "executions_per_trial", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if self.max_epochs is not None and self.max_epochs < 1:
            raise ValueError(f"max_epochs must be at least 1, got {self.max_epochs}.")

    @property
    def is_worker(self):
        return self.distributed == "worker"

    def folder(self, app_name):
        path = self.tune_dir or Path(DEFAULT_RUNS_ROOT) / app_name / "tune" / self.project_name
        return TuneFolder(Path(path))

    def identity(self):
        return {name: getattr(self, name) for name in IDENTITY_FIELDS}


class TuneFolder:
    """`runs/<app>/tune/<project>/`: Keras Tuner's own folder and the report."""

    def __init__(self, path):
        self.path = Path(path)

    def create(self):
        self.path.mkdir(parents=True, exist_ok=True)
        return self

    @property
    def keras_tuner_dir(self):
        """Keras Tuner's project folder (oracle.json, trial_*/): resumes the search."""
        return self.path / KERAS_TUNER_FOLDER

    @property
    def tensorboard_dir(self):
        return self.path / "tensorboard"

    @property
    def ledger_path(self):
        return self.path / "trial_runs.jsonl"

    @property
    def search_path(self):
        return self.path / "search.json"

    @property
    def trials_csv(self):
        return self.path / "trials.csv"

    @property
    def trials_json(self):
        return self.path / "trials.json"

    @property
    def plot_path(self):
        return self.path / "objective.png"

    @property
    def best_hyperparameters_path(self):
        return self.path / "best_hyperparameters.json"

    @property
    def retrained_path(self):
        return self.path / "retrained.json"

    def exists(self):
        return self.keras_tuner_dir.exists()

    def save_search(self, record):
        self.search_path.write_text(json.dumps(record, indent=2, default=str) + "\n")

    def load_search(self):
        if not self.search_path.exists():
            return None
        return json.loads(self.search_path.read_text())
