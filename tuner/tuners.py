"""Keras Tuner's four tuners, each with the same bookkeeping added through its hooks.

`TrialBookkeeping` uses the hooks Keras Tuner offers subclasses and changes
nothing of the search itself:

* `run_trial` times the trial and reports `trial_seconds` with its metrics, so
  the time reaches the oracle (and the report) in distributed mode too.
* `on_trial_begin` / `on_trial_end` append to the trial ledger, free memory
  (including the graphs TensorFlow keeps registered, see `tuner.graph_memory`) and
  delete the checkpoints no later trial needs.
* `_configure_tensorboard_dir` (the hook Keras Tuner uses for per-trial TensorBoard
  folders and the HParams callback on TensorFlow) also gives each trial its own
  folder on JAX and PyTorch, where Keras Tuner leaves them all in one.

Keras Tuner itself clears the Keras session before building each trial's model.
"""

import gc
import os
import time

import keras
import keras_tuner

from tuner.checkpoints import CheckpointPruner
from tuner.graph_memory import GradientRegistryScope
from tuner.ledger import TrialLedger

SECONDS_METRIC = "trial_seconds"


class RestartRequested(Exception):
    """Raised after `trials_per_process` trials: the process should start afresh and resume."""


def _record_seconds(histories, seconds):
    """Adds `trial_seconds` to each epoch of each execution's History."""
    for history in histories:
        if isinstance(history, dict):
            history[SECONDS_METRIC] = seconds
        elif hasattr(history, "history") and history.history:
            epochs = len(next(iter(history.history.values())))
            history.history[SECONDS_METRIC] = [seconds] * epochs
    return histories


class TrialBookkeeping:
    """Mixin for a `keras_tuner.Tuner` subclass; set up with `start_bookkeeping`."""

    def start_bookkeeping(self, ledger_path, keep_checkpoints=1, trials_per_process=0):
        self.ledger = TrialLedger(ledger_path, self.tuner_id)
        self.pruner = CheckpointPruner(self, keep_checkpoints)
        self.trials_per_process = trials_per_process
        self._trials_ended = 0
        self._trial_started = {}
        self._trial_gradients = GradientRegistryScope()

    def run_trial(self, trial, *args, **kwargs):
        started = time.monotonic()
        histories = super().run_trial(trial, *args, **kwargs)
        return _record_seconds(histories, time.monotonic() - started)

    def on_trial_begin(self, trial):
        super().on_trial_begin(trial)
        self._trial_started[trial.trial_id] = time.monotonic()
        self._trial_gradients.begin()
        self.ledger.started(trial.trial_id)
        if self._is_worker():
            print(f"[{self.tuner_id}] running trial {trial.trial_id}", flush=True)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        keras.backend.clear_session()
        self._trial_gradients.release()
        gc.collect()
        seconds = time.monotonic() - self._trial_started.pop(trial.trial_id, time.monotonic())
        self.ledger.ended(trial.trial_id, trial.status, seconds)
        self.pruner.after_trial(trial)
        self._trials_ended += 1
        if self._should_restart():
            raise RestartRequested(f"{self._trials_ended} trials ended in this process")

    def _should_restart(self):
        if not self.trials_per_process or self._trials_ended < self.trials_per_process:
            return False
        remaining = None if self._is_worker() else self.remaining_trials
        return remaining is None or remaining > 0

    def on_search_end(self):
        super().on_search_end()
        self.pruner.after_search()

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
        super()._configure_tensorboard_dir(callbacks, trial, execution)
        if keras.backend.backend() == "tensorflow":
            return  # Keras Tuner did it, HParams included.
        for callback in callbacks:
            if callback.__class__.__name__ == "TensorBoard":
                callback.log_dir = os.path.join(str(callback.log_dir), str(trial.trial_id), f"execution{execution}")


class RandomSearch(TrialBookkeeping, keras_tuner.RandomSearch):
    pass


class BayesianOptimization(TrialBookkeeping, keras_tuner.BayesianOptimization):
    pass


class Hyperband(TrialBookkeeping, keras_tuner.Hyperband):
    pass


class GridSearch(TrialBookkeeping, keras_tuner.GridSearch):
    pass


TUNER_CLASSES = {
    "random": RandomSearch,
    "bayesian": BayesianOptimization,
    "hyperband": Hyperband,
    "grid": GridSearch,
}


def make_tuner(
    kind,
    hypermodel,
    objective,
    *,
    directory,
    project_name,
    max_trials,
    max_epochs,
    executions_per_trial,
    seed,
    overwrite,
    fixed=None,
    factor=3,
):
    """A Keras Tuner tuner of `kind`; `fixed` values are registered as `hp.Fixed`."""
    hyperparameters = keras_tuner.HyperParameters()
    for name, value in (fixed or {}).items():
        hyperparameters.Fixed(name, value)
    common = dict(
        hypermodel=hypermodel,
        objective=objective,
        seed=seed,
        hyperparameters=hyperparameters,
        directory=str(directory),
        project_name=project_name,
        overwrite=overwrite,
        executions_per_trial=executions_per_trial,
    )
    if kind == "hyperband":
        return Hyperband(max_epochs=max_epochs, factor=factor, **common)
    return TUNER_CLASSES[kind](max_trials=max_trials, **common)
