"""Churn training: early stopping on validation ROC-AUC, cross-fitted ensembles, the
decision threshold chosen on held-out predictions."""

import numpy as np

from apps.churn.data import table_pipeline
from apps.churn.evaluation import predict_probabilities
from apps.churn.model import compile_model, ensemble_members, set_threshold
from apps.churn.threshold import choose_threshold
from apps.core.runs import Run

OBJECTIVE = "val_auc"


def fit_with_early_stopping(model, train, validation, config, callbacks=(), verbose=2):
    """Fits until validation ROC-AUC stops improving for `patience` epochs; keeps the best weights."""
    import keras

    early_stopping = keras.callbacks.EarlyStopping(
        monitor=OBJECTIVE, mode="max", patience=config.patience, restore_best_weights=True)
    return model.fit(train, validation_data=validation, epochs=config.epochs,
                     shuffle=False, verbose=verbose, callbacks=[*callbacks, early_stopping])


class MemberRuns:
    """One run folder per ensemble member inside the ensemble's run (`members/member_N/`):
    its own backup, TensorBoard logs and history while it trains, its weights once done.
    Training the same run again restores the finished members and resumes the one it was on."""

    def __init__(self, run):
        self.run = run

    def member_run(self, index):
        return Run(self.run.app_name, self.run.path / "members" / f"member_{index + 1}")

    def started(self):
        """The member runs that exist, in member order."""
        count = len(list((self.run.path / "members").glob("member_*")))
        return [self.member_run(index) for index in range(count)]

    def weights_path(self, index):
        return self.member_run(index).path / "model.weights.h5"

    def restore(self, member, index):
        path = self.weights_path(index)
        if not path.exists():
            return False
        member.load_weights(path)
        return True

    def callbacks(self, index):
        return self.member_run(index).callbacks(monitor=OBJECTIVE, mode="max")

    def save(self, member, index):
        path = self.weights_path(index)
        partial = path.with_name("partial." + path.name)
        member.save_weights(partial)
        partial.replace(path)


def fit_cross_fitted_members(model, data, config, member_runs=None, verbose=2):
    """Member i trains on every fold but i and stops early on fold i (`data.info["folds"]`).

    Returns the labels and out-of-fold probabilities of the non-test rows: each row is
    predicted by the one member that never trained on it."""
    labels, probabilities = [], []
    folds = data.info["folds"]
    for index, (member, (train, validation)) in enumerate(zip(ensemble_members(model, config), folds)):
        if member_runs is None or not member_runs.restore(member, index):
            compile_model(member, config, data.info["positive_rate"], len(train))
            fit_with_early_stopping(
                member, table_pipeline(train, config, training=True),
                table_pipeline(validation, config, training=False), config,
                member_runs.callbacks(index) if member_runs else (), verbose)
            if member_runs is not None:
                member_runs.save(member, index)
        labels.append(validation.labels)
        probabilities.append(predict_probabilities(member, validation))
    model.optimizer.build(model.trainable_variables)  # saved like a trained model's optimizer
    return np.concatenate(labels), np.concatenate(probabilities)


def fit_and_calibrate(model, data, config, run=None, verbose=2):
    """Fits, then stores the decision threshold chosen on held-out predictions.

    A single network uses the run's callbacks (resumable, checkpoints, logs) and takes its
    threshold on the validation split; a cross-fitted ensemble trains its members in turn
    (`MemberRuns`) and takes the threshold on their out-of-fold predictions. Returns the
    held-out (labels, probabilities) the threshold was chosen on."""
    if config.ensemble == 1:
        callbacks = run.callbacks(monitor=OBJECTIVE, mode="max") if run is not None else ()
        fit_with_early_stopping(model, data.train, data.validation, config, callbacks, verbose)
        validation = data.info["validation_table"]
        labels, probabilities = validation.labels, predict_probabilities(model, validation)
    else:
        labels, probabilities = fit_cross_fitted_members(
            model, data, config, MemberRuns(run) if run is not None else None, verbose)
    set_threshold(model, choose_threshold(labels, probabilities, config.threshold_metric))
    return labels, probabilities
