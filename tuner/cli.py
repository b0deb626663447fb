"""`kapps <app> tune`: the flags (`add_arguments`) and the command (`run`).

    kapps digits tune --tuner bayesian --max-trials 20 --max-epochs 5 \\
        --objective val_accuracy --direction max --data builtin
"""

import dataclasses
import json
import os
import sys
import typing

from apps.core.config import add_config_arguments, overrides_from_args
from tuner.distributed import configure_distributed, oracle_from_environment, role_from_environment
from tuner.settings import DEFAULT_PROJECT_NAME, DIRECTIONS, ROLES, TUNERS, TuneSettings


def _add_search_arguments(parser, app):
    group = parser.add_argument_group("search")
    group.add_argument("--tuner", choices=TUNERS, default="random", help="Keras Tuner tuner (default: random)")
    group.add_argument(
        "--max-trials",
        type=int,
        default=10,
        help="trials in all, finished ones included (default: 10; Hyperband: unused)",
    )
    group.add_argument("--max-epochs", type=int, help="most epochs per trial (default: the config's epochs)")
    group.add_argument("--objective", default=None, help=f"metric to optimise (default: {app.objective})")
    group.add_argument(
        "--direction", choices=DIRECTIONS, help="min or max (default: the app's for its objective, else inferred)"
    )
    group.add_argument(
        "--executions-per-trial", type=int, default=1, help="trainings per trial, objective averaged (default: 1)"
    )
    group.add_argument(
        "--fix",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="hold a hyperparameter fixed, e.g. --fix model=cnn (repeatable)",
    )
    group.add_argument("--hyperband-factor", type=int, default=3, help="Hyperband's reduction factor")


def _add_output_arguments(parser):
    group = parser.add_argument_group("output and resuming")
    group.add_argument(
        "--project-name", default=DEFAULT_PROJECT_NAME, help="folder runs/<app>/tune/<project-name> (default: search)"
    )
    group.add_argument("--tune-dir", help="explicit tuning folder instead of runs/<app>/tune/<project-name>")
    group.add_argument("--overwrite", action="store_true", help="start over instead of resuming")
    group.add_argument(
        "--keep-checkpoints", type=int, default=1, help="best trials whose weights are kept on disk (default: 1)"
    )
    group.add_argument(
        "--threads", type=int, default=0, help="TensorFlow intra/inter-op threads per process (default: TensorFlow's)"
    )
    group.add_argument(
        "--trials-per-process",
        type=int,
        default=0,
        help="restart the process after this many trials, resuming the search, "
        "as a safeguard against memory a model keeps (default 0: never)",
    )
    group.add_argument("--verbose", type=int, choices=(0, 1, 2), default=2, help="Keras fit verbosity")
    group.add_argument(
        "--retrain-best", action="store_true", help="train the best config on all training examples and export it"
    )
    group.add_argument(
        "--retrain-max-examples", type=int, default=0, help="cap on training examples when retraining (default: 0, all)"
    )
    group.add_argument("--model-base-path", default="models", help="export folder for --retrain-best")


def _add_distributed_arguments(parser):
    group = parser.add_argument_group("distributed (Keras Tuner chief/worker mode)")
    group.add_argument("--distributed", choices=ROLES, help="chief: serve the oracle; worker: run trials it hands out")
    group.add_argument(
        "--oracle", metavar="HOST:PORT", help="where the chief listens / workers connect, e.g. 10.0.0.5:8000"
    )
    group.add_argument(
        "--tuner-id",
        help="worker id (default: worker-<host>-<pid>); a stable id lets a restarted worker resume its trial",
    )


def add_arguments(parser, app):
    """Adds the tune flags and the app's config fields (`--data`, `--max-examples`...)."""
    _add_search_arguments(parser, app)
    _add_output_arguments(parser)
    _add_distributed_arguments(parser)
    add_config_arguments(parser, app.config_class)


def _parse_value(text, kind):
    if kind is bool:
        return text.lower() in ("1", "true", "yes", "on")
    if kind in (int, float, str):
        return kind(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_fixed(items, config_class):
    """`["model=cnn", "width=8"]` -> `{"model": "cnn", "width": 8}`, typed like the config field
    of the same name (JSON, else text, for other names)."""
    hints = typing.get_type_hints(config_class)
    fields = {field.name for field in dataclasses.fields(config_class)}
    fixed = {}
    for item in items:
        name, separator, text = item.partition("=")
        if not separator or not name:
            raise ValueError(f"--fix expects NAME=VALUE, got {item!r}.")
        fixed[name] = _parse_value(text, hints.get(name) if name in fields else None)
    return fixed


def settings_from_args(app, args):
    return TuneSettings(
        tuner=args.tuner,
        max_trials=args.max_trials,
        max_epochs=args.max_epochs,
        objective=args.objective,
        direction=args.direction,
        executions_per_trial=args.executions_per_trial,
        project_name=args.project_name,
        tune_dir=args.tune_dir,
        overwrite=args.overwrite,
        fixed=parse_fixed(args.fix, app.config_class),
        keep_checkpoints=args.keep_checkpoints,
        hyperband_factor=args.hyperband_factor,
        threads=args.threads,
        trials_per_process=args.trials_per_process,
        verbose=args.verbose,
        retrain_best=args.retrain_best,
        retrain_max_examples=args.retrain_max_examples,
        model_base_path=args.model_base_path,
        distributed=args.distributed or role_from_environment(),
        oracle=args.oracle or oracle_from_environment(),
        tuner_id=args.tuner_id,
    )


def _print_result(result):
    print(f"\nTrials ({result.objective.name}, {result.objective.direction}):")
    print(result.table)
    if result.importance:
        ranked = ", ".join(f"{name} {score:.2f}" for name, score in result.importance.items())
        print(f"Hyperparameter importance (rough): {ranked}")
    folder = result.folder
    print(
        f"Saved {folder.trials_csv}, {folder.trials_json}, {folder.plot_path}"
        + (f", {folder.best_hyperparameters_path}" if result.best else "")
    )
    print(f"TensorBoard (HParams tab on TensorFlow): tensorboard --logdir {folder.tensorboard_dir}")


def _retrain(app, result, settings):
    from tuner.retrain import retrain_best

    run, metrics, export_path = retrain_best(
        app,
        result.best_config,
        result.folder,
        max_examples=settings.retrain_max_examples,
        model_base_path=settings.model_base_path,
    )
    print(app.report(metrics))
    print(f"Retrained the best config in {run.path}; exported to {export_path}")


def launched_as_kapps():
    """True when this process is the `kapps` command (not, e.g., a test calling `main`)."""
    program = os.path.basename(sys.argv[0])
    return program == "kapps" or sys.argv[0].endswith(os.path.join("kapps", "__main__.py"))


def restart_process(settings):
    """Replaces this process by a fresh run of the same command (same pid), which
    resumes the search. In-process callers (tests, notebooks) just continue."""
    print(
        f"Restarting the tuner process after {settings.trials_per_process} trials to give "
        "back the memory TensorFlow keeps across models; the search resumes.",
        flush=True,
    )
    if not launched_as_kapps():
        return
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [token for token in sys.orig_argv if token != "--overwrite"]  # resume, never start over
    os.execv(sys.executable, argv)


def run(app, args):
    """`kapps <app> tune`: search (or resume), print and save the report."""
    from tuner.objective import ObjectiveError
    from tuner.search import RESTART, SearchMismatchError, limit_threads, run_search

    try:
        settings = settings_from_args(app, args)
        config = app.default_config().replace(**overrides_from_args(args))
        if settings.distributed and args.oracle:
            configure_distributed(settings.distributed, settings.oracle, settings.tuner_id)
    except ValueError as error:
        raise SystemExit(f"kapps {app.name} tune: {error}") from None
    limit_threads(settings.threads)
    try:
        result = run_search(app, config, settings)
        while result == RESTART:
            restart_process(settings)  # returns only when the process cannot be replaced
            settings = dataclasses.replace(settings, overwrite=False)
            result = run_search(app, config, settings)
    except (ObjectiveError, SearchMismatchError) as error:
        raise SystemExit(f"kapps {app.name} tune: {error}") from None
    if result is None:
        print("Worker finished: the chief writes the report.")
        return None
    _print_result(result)
    if settings.retrain_best:
        _retrain(app, result, settings)
    return result
