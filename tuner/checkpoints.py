"""Keeps the disk from filling with checkpoints: only what a later trial still needs.

Keras Tuner saves each trial's best-epoch weights in its `trial_<id>/` folder and
never deletes them. A checkpoint is needed afterwards only

* for the best `keep` trials (`tuner.get_best_models()`), and
* by Hyperband, to continue a trial in its next round (the new trial names the
  old one as `tuner/trial_id`); once that continuation completed, the old
  checkpoint is no longer needed.

Only trials that have ended are touched, so a trial still running on another
worker (shared filesystem) keeps its checkpoint.
"""

import glob
import os

import keras_tuner
from keras_tuner.src.engine.trial import TrialStatus

ENDED = (TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.INVALID)
CHECKPOINT_PATTERNS = ("checkpoint*", "build_config.json")


def checkpoint_files(trial_dir):
    return [path for pattern in CHECKPOINT_PATTERNS for path in glob.glob(os.path.join(trial_dir, pattern))]


def _remove(paths):
    for path in paths:
        try:
            os.remove(path)
        except (FileNotFoundError, IsADirectoryError):
            pass


class CheckpointPruner:
    def __init__(self, tuner, keep=1):
        self.tuner = tuner
        self.keep = keep

    @property
    def is_hyperband(self):
        return isinstance(self.tuner, keras_tuner.Hyperband)

    def best_trial_ids(self):
        trials = self.tuner.oracle.get_best_trials(self.keep)
        return {trial.trial_id for trial in trials if trial.status == TrialStatus.COMPLETED}

    def trial_ids_with_checkpoints(self):
        folders = glob.glob(os.path.join(self.tuner.project_dir, "trial_*"))
        return [os.path.basename(folder)[len("trial_") :] for folder in folders if checkpoint_files(folder)]

    def prune(self, trial_ids):
        """Deletes the checkpoints of the ended, not-best trials among `trial_ids`."""
        keep = self.best_trial_ids()
        for trial_id in trial_ids:
            if trial_id in keep or self._status(trial_id) not in ENDED:
                continue
            _remove(checkpoint_files(os.path.join(self.tuner.project_dir, f"trial_{trial_id}")))

    def _status(self, trial_id):
        try:
            return self.tuner.oracle.get_trial(trial_id).status
        except Exception:  # unknown to the oracle: a leftover of another search
            return None

    def after_trial(self, trial):
        if not self.is_hyperband:
            self.prune(self.trial_ids_with_checkpoints())
            return
        parent = trial.hyperparameters.values.get("tuner/trial_id")
        if parent and trial.status == TrialStatus.COMPLETED:
            self.prune([parent])

    def after_search(self):
        self.prune(self.trial_ids_with_checkpoints())
