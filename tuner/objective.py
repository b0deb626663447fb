"""The search objective: its direction, and a check that the metric exists at all.

Keras Tuner only notices a misspelt objective after the first trial has trained
("Objective value missing in metrics reported to the Oracle"). `check_objective`
trains the default model for a single step first and fails with the metric names
that training actually reports.
"""

import warnings

import keras_tuner
from keras_tuner.src.engine.metrics_tracking import infer_metric_direction


class ObjectiveError(ValueError):
    """The objective is not a metric the app's training reports, or has no direction."""


def resolve_direction(app, name, direction=None):
    """`direction` if given, the app's own for its objective, else inferred from the name."""
    if direction:
        return direction
    if name == app.objective:
        return app.objective_direction
    inferred = infer_metric_direction(name)
    if inferred is None:
        raise ObjectiveError(
            f"Cannot tell whether {name!r} should be minimised or maximised: pass --direction min or --direction max."
        )
    return inferred


def make_objective(app, name=None, direction=None):
    name = name or app.objective
    return keras_tuner.Objective(name, resolve_direction(app, name, direction))


def reported_metric_names(hypermodel):
    """The metric names a trial reports, from a one-batch training of the default
    hyperparameters through the app's own training (`ConfigHyperModel.metric_names`)."""
    import keras

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "input ran out of data" and the like, for one step
        names = hypermodel.metric_names(keras_tuner.HyperParameters())
    keras.backend.clear_session()
    return names


def check_objective(objective, hypermodel):
    """Raises `ObjectiveError`, listing the available names, when the objective is
    not among the metrics training reports."""
    available = reported_metric_names(hypermodel)
    if objective.name not in available:
        raise ObjectiveError(
            f"Objective {objective.name!r} is not reported by training. Available metric names: {', '.join(available)}."
        )
    return available
