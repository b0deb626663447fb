"""Runs (or resumes) a Keras Tuner search over an app's config and writes the report.

Only the App contract is used: `load_data`, `search_space`, `build_model` and `train` (through
`tuner.hypermodel.ConfigHyperModel`), `objective` / `objective_direction`.
"""

import dataclasses
import shutil
import warnings

from apps.core.config import ConfigError
from tuner import plots, report
from tuner.hypermodel import ConfigHyperModel, TrainingSpace
from tuner.importance import hyperparameter_importance, most_important
from tuner.ledger import read_ledger
from tuner.objective import check_objective, make_objective
from tuner.tuners import RestartRequested, make_tuner

# What `run_search` returns when the process should restart and resume the search.
RESTART = "restart"


class SearchMismatchError(ValueError):
    """Resuming a search with settings that would make it a different search."""


@dataclasses.dataclass
class SearchResult:
    folder: object
    objective: object
    records: list
    best: "dict | None"
    best_config: object
    importance: dict
    table: str


def limit_threads(threads):
    """At most `threads` TensorFlow intra-op and inter-op threads in this process
    (one per worker lets two workers share two cores instead of fighting over them)."""
    if not threads:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError as error:  # TensorFlow already started in this process
        warnings.warn(f"--threads {threads} ignored: {error}", stacklevel=2)
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def training_space_for(settings):
    """Hyperband chooses the epochs itself; the other tuners choose them per trial."""
    return TrainingSpace(max_epochs=settings.max_epochs, tune_epochs=settings.tuner != "hyperband")


def search_identity(settings, objective, config):
    identity = settings.identity()
    identity.update(objective=objective.name, direction=objective.direction, config=config.to_dict())
    return identity


def check_same_search(folder, identity):
    """Refuses to resume a search with another tuner, objective, fixed values or config."""
    saved = folder.load_search()
    if saved is None:
        return
    saved = saved.get("identity", {})
    differences = sorted(key for key in set(saved) | set(identity) if saved.get(key) != identity.get(key))
    if differences:
        details = "; ".join(f"{key}: {saved.get(key)!r} -> {identity.get(key)!r}" for key in differences)
        raise SearchMismatchError(
            f"{folder.path} holds a different search ({details}). Resume it with the same "
            "settings, start over with --overwrite, or choose another --project-name."
        )


def clear_folder(folder):
    """Removes what a search writes (never the folder itself, which may be user-named)."""
    for path in (folder.keras_tuner_dir, folder.tensorboard_dir):
        shutil.rmtree(path, ignore_errors=True)
    for path in (
        folder.ledger_path,
        folder.search_path,
        folder.trials_csv,
        folder.trials_json,
        folder.plot_path,
        folder.best_hyperparameters_path,
        folder.retrained_path,
    ):
        path.unlink(missing_ok=True)


def checked_metric_names(app, folder, objective, hypermodel):
    """The metric names training reports, checked to include the objective before the
    first trial; a resumed search reuses the names its first run checked. The app's own
    objective needs no check (every app's training reports it: the shared app test), so
    the one-step probe runs only for another `--objective`; None then."""
    if objective.name == app.objective:
        return None
    saved = folder.load_search() or {}
    if objective.name in (saved.get("metric_names") or ()):
        return saved["metric_names"]
    return check_objective(objective, hypermodel)


def clear_trial_output_in_notebooks_only():
    """Keras Tuner (1.4.8) clears the output after each trial when it runs in a notebook, and
    takes any process that can import IPython for one (`get_ipython()` is None there), so a
    log file got terminal escapes ("\\x1b[2K\\r") after each trial."""
    from keras_tuner.src import utils

    if utils.IS_NOTEBOOK:
        import IPython

        utils.IS_NOTEBOOK = type(IPython.get_ipython()).__name__ == "ZMQInteractiveShell"


def prepare_hypermodel(app, config, settings):
    return ConfigHyperModel(app, config, app.load_data(config), training_space_for(settings))


def build_tuner(hypermodel, objective, settings, folder, config, overwrite):
    tuner = make_tuner(
        settings.tuner,
        hypermodel,
        objective,
        directory=folder.path,
        project_name=folder.keras_tuner_dir.name,
        max_trials=settings.max_trials,
        max_epochs=settings.max_epochs or config.epochs,
        executions_per_trial=settings.executions_per_trial,
        seed=config.seed,
        overwrite=overwrite,
        fixed=settings.fixed,
        factor=settings.hyperband_factor,
    )
    tuner.start_bookkeeping(folder.ledger_path, settings.keep_checkpoints, settings.trials_per_process)
    return tuner


def run_search(app, config, settings):
    """Searches (resuming what the folder holds); returns a `SearchResult`, None on
    a distributed worker (the chief writes the report), or `RESTART` after
    `settings.trials_per_process` trials."""
    import keras

    if config.distribute != "none":
        raise ConfigError(
            "kapps tune trains each trial on one device: scale a search out with Keras Tuner's "
            "chief/worker mode (--distributed chief|worker), and train the best config with "
            f"`kapps {app.name} train --distribute {config.distribute}`."
        )
    folder = settings.folder(app.name).create()
    objective = make_objective(app, settings.objective, settings.direction)
    identity = search_identity(settings, objective, config)
    overwrite = settings.overwrite and not settings.is_worker
    if overwrite:
        clear_folder(folder)
    check_same_search(folder, identity)
    keras.utils.set_random_seed(config.seed)
    hypermodel = prepare_hypermodel(app, config, settings)
    metric_names = None
    if not settings.is_worker:
        metric_names = checked_metric_names(app, folder, objective, hypermodel)
    tuner = build_tuner(hypermodel, objective, settings, folder, config, overwrite)
    if not settings.is_worker:
        folder.save_search(
            {
                "app": app.name,
                "identity": identity,
                "metric_names": metric_names,
                "max_trials": settings.max_trials,
                "max_epochs": settings.max_epochs,
            }
        )
    clear_trial_output_in_notebooks_only()
    try:
        tuner.search(callbacks=[keras.callbacks.TensorBoard(str(folder.tensorboard_dir))], verbose=settings.verbose)
    except RestartRequested:
        return RESTART
    if settings.is_worker:
        return None
    return write_report(app, tuner, hypermodel, objective, folder, settings)


def best_config_for(tuner, hypermodel, best):
    if best is None:
        return None
    hp = tuner.oracle.get_trial(best["trial_id"]).hyperparameters.copy()
    return hypermodel.config_for(hp)


def write_report(app, tuner, hypermodel, objective, folder, settings):
    """trials.csv, trials.json, objective.png and best_hyperparameters.json."""
    records = report.trial_records(tuner.oracle, read_ledger(folder.ledger_path))
    best = report.best_record(records, objective.direction)
    best_config = best_config_for(tuner, hypermodel, best)
    importance = hyperparameter_importance(records)
    report.write_csv(records, objective.name, folder.trials_csv)
    summary = {
        "app": app.name,
        "tuner": settings.tuner,
        "objective": {"name": objective.name, "direction": objective.direction},
        "best_trial_id": best["trial_id"] if best else None,
        "importance": importance,
    }
    report.write_json(records, summary, folder.trials_json)
    plots.plot_objective(records, most_important(records), objective, importance, folder.plot_path)
    if best is not None:
        record = report.best_hyperparameters_record(app.name, objective, best, best_config)
        report.write_json_file(record, folder.best_hyperparameters_path)
    table = report.format_table(records, objective.name, best["trial_id"] if best else None)
    return SearchResult(folder, objective, records, best, best_config, importance, table)
