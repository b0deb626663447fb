"""Churn training: early stopping on validation ROC-AUC, cross-fitted ensembles, the
decision threshold chosen on held-out predictions."""

import numpy as np
from sklearn.metrics import roc_auc_score

from apps.churn.config import OBJECTIVE
from apps.churn.data import encoded_features, table_pipeline
from apps.churn.members import MemberRuns
from apps.churn.model import compile_model, ensemble_members, predict_probabilities, set_threshold
from apps.churn.threshold import choose_threshold
from apps.core.console import fit_verbosity


def no_callbacks(run):
    return []


def fit_with_early_stopping(model, train, validation, config, callbacks=(), initial_epoch=0):
    """Fits until validation ROC-AUC stops improving for `patience` epochs. The app's callbacks
    (`App.training_callbacks`, among `callbacks`) restore the best epoch's weights, across resumes."""
    from apps.core.field_metrics import MeasuredEarlyStopping

    early_stopping = MeasuredEarlyStopping(monitor=OBJECTIVE, mode="max", patience=config.patience)
    return model.fit(
        train,
        validation_data=validation,
        epochs=config.epochs,
        initial_epoch=initial_epoch,
        shuffle=False,
        verbose=fit_verbosity(),
        callbacks=[*callbacks, early_stopping],
    )


def held_out_probabilities(model, table, preprocessing):
    return predict_probabilities(model, encoded_features(table, preprocessing))


def fit_single_network(model, data, config, run=None, callbacks_for=no_callbacks, extra_callbacks=(), initial_epoch=0):
    """Fits on the training split with `callbacks_for(run)` and `extra_callbacks`, stops early
    on the validation split; returns its `History` and the validation (labels, probabilities)."""
    train, validation = data.info.train_table, data.info.validation_table
    history = fit_with_early_stopping(
        model,
        table_pipeline(train, model.preprocessing, config, training=True),
        table_pipeline(validation, model.preprocessing, config, training=False),
        config,
        [*callbacks_for(run), *extra_callbacks],
        initial_epoch,
    )
    return history, validation.labels, held_out_probabilities(model, validation, model.preprocessing)


def fit_cross_fitted_members(model, data, config, run=None, callbacks_for=no_callbacks, initial_epoch=0):
    """Member i trains on every fold but i and stops early on fold i (`data.info.folds`),
    with `callbacks_for(its member run)` (`MemberRuns`, None without a run): a finished
    member is restored.

    Returns the labels and out-of-fold probabilities of the non-test rows: each row is
    predicted by the one member that never trained on it."""
    labels, probabilities = [], []
    member_runs = MemberRuns(run) if run is not None else None
    preprocessing = model.preprocessing
    for index, (member, (train, validation)) in enumerate(zip(ensemble_members(model, config), data.info.folds)):
        if member_runs is None or not member_runs.restore(member, index):
            compile_model(member, config, data.info.positive_rate, len(train))
            print(f"Ensemble member {index + 1}/{config.ensemble}", flush=True)
            fit_with_early_stopping(
                member,
                table_pipeline(train, preprocessing, config, training=True),
                table_pipeline(validation, preprocessing, config, training=False),
                config,
                callbacks_for(member_runs.member_run(index) if member_runs else None),
                initial_epoch,
            )
            if member_runs is not None:
                member_runs.save(member, index)
        labels.append(validation.labels)
        probabilities.append(held_out_probabilities(member, validation, preprocessing))
    model.optimizer.build(model.trainable_variables)  # saved like a trained model's optimizer
    return np.concatenate(labels), np.concatenate(probabilities)


def ensemble_history(model, callbacks, logs):
    """The `History` of a cross-fitted ensemble: its members train one after the other, each with
    its own epochs, so the ensemble as a whole has one epoch, ended with the whole model and its
    out-of-fold `logs`. Per-training callbacks (a tuner's checkpoint, TensorBoard, trial
    reporting) see that epoch, not one member's fit."""
    import keras

    history = keras.callbacks.History()
    callback_list = keras.callbacks.CallbackList([*callbacks, history], model=model, epochs=1, verbose=0)
    callback_list.on_train_begin()
    callback_list.on_epoch_begin(0)
    callback_list.on_epoch_end(0, dict(logs))
    callback_list.on_train_end(dict(logs))
    return history


def fit_and_calibrate(model, data, config, run=None, callbacks_for=no_callbacks, extra_callbacks=(), initial_epoch=0):
    """Fits, then stores the decision threshold chosen on held-out predictions.

    A single network (`ensemble` 1) trains with `callbacks_for(run)` then `extra_callbacks`
    and takes its threshold on the validation split; a cross-fitted ensemble trains its
    members in turn, each with `callbacks_for(its member run)`, takes the threshold on
    their out-of-fold predictions, and reports to `extra_callbacks` once, at the end, as one
    epoch whose logs are the out-of-fold ROC-AUC (`val_auc`, the objective) and the threshold
    (`ensemble_history`). Returns the `History` those callbacks saw."""
    if config.ensemble == 1:
        history, labels, probabilities = fit_single_network(
            model, data, config, run, callbacks_for, extra_callbacks, initial_epoch
        )
    else:
        labels, probabilities = fit_cross_fitted_members(model, data, config, run, callbacks_for, initial_epoch)
    threshold = choose_threshold(labels, probabilities, config.threshold_metric)
    set_threshold(model, threshold)
    if config.ensemble == 1:
        return history
    return ensemble_history(
        model, extra_callbacks, {OBJECTIVE: float(roc_auc_score(labels, probabilities)), "threshold": threshold}
    )
