"""The app-level commands of `kapps` (`kapps.cli` is the command itself: it adds `tune` and `serve`).

    kapps list
    kapps [--backend B] <app> train|evaluate|export|predict|prepare-data [flags]
    kapps data-service dispatcher|worker [flags]

`python -m apps.cli` runs these alone (the export re-runs itself on TensorFlow that way).
"""

import argparse
import dataclasses
import sys
import typing

from apps.core.backend import BACKENDS, import_tensorflow_quietly, select_backend
from apps.core.export_gate import DEFAULT_TOLERANCE

ACTIONS = ("train", "evaluate", "export", "predict", "prepare-data")


@dataclasses.dataclass(frozen=True)
class ExtraAction:
    """An app action that a command above the apps adds (the tuner's `tune`): its help, its flags
    (`add_arguments(parser, registry entry)`) and what it runs (`run(app, args)`)."""

    help: str
    add_arguments: typing.Callable
    run: typing.Callable


def pop_backend(argv):
    """Removes `--backend X` wherever it stands; the backend must be set before Keras loads."""
    argv = list(argv)
    for index, token in enumerate(argv):
        if token == "--backend" and index + 1 < len(argv):
            value = argv[index + 1]
            del argv[index : index + 2]
            return value, argv
        if token.startswith("--backend="):
            del argv[index]
            return token.split("=", 1)[1], argv
    return None, argv


def _add_run_dir(parser, required=False):
    parser.add_argument(
        "--run-dir",
        required=required,
        help="run folder (default: a new runs/<app>/<timestamp> for train, the newest trained run otherwise)",
    )


def _add_action_parsers(app_parser, app, extra_actions):
    """The action flags of one app, from its light registry entry (no TensorFlow import)."""
    from apps.core.config import add_config_arguments

    actions = app_parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    train = actions.add_parser("train", help="train, save model.keras, evaluate")
    _add_run_dir(train)
    add_config_arguments(train, app.config_class)

    evaluate = actions.add_parser("evaluate", help="metrics and plots of a trained run")
    _add_run_dir(evaluate)
    evaluate.add_argument("--data", dest="config__data", help="evaluate on another source")

    export = actions.add_parser("export", help="SavedModel in TF Serving's layout")
    _add_run_dir(export)
    export.add_argument("--model-base-path", default="models")
    export.add_argument("--version", type=int, help="version number (default: next free)")
    export.add_argument(
        "--gate-tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        metavar="DELTA",
        help="refuse the export when the run's test metric (the app's objective) is worse "
        "than the newest exported version's by more than this (default %(default)s)",
    )
    export.add_argument("--force", action="store_true", help="export even when the gate refuses")

    predict = actions.add_parser("predict", help="answer inputs from the exported model")
    inputs = app.config_class.PREDICT_INPUTS
    predict.add_argument("inputs", nargs="*" if inputs.options else "+", metavar="INPUT", help=inputs.description)
    for name, text in inputs.options.items():
        predict.add_argument(f"--{name}", dest=f"predict__{name}", type=int, metavar="N", help=text)
    predict.add_argument("--model-base-path", default="models")
    predict.add_argument(
        "--server",
        help="ask a TF Serving (or `kapps serve`) server at this URL "
        "(http://host:8501 for REST, grpc://host:8500 for gRPC)",
    )
    predict.add_argument(
        "--output",
        default="predictions",
        help="folder for answers that are files (masks, images); default: predictions",
    )

    for name, action in extra_actions.items():
        action.add_arguments(actions.add_parser(name, help=action.help), app)
    _add_prepare_data_parser(actions, app)


def _add_prepare_data_parser(actions, app):
    """`prepare-data`: the app's examples written as TFRecord shards (`apps.core.records`); the
    config flags choose them as training would (`--data`, `--validation-fraction`, `--seed`...)."""
    from apps.core.config import add_config_arguments

    prepare = actions.add_parser(
        "prepare-data",
        help="write the examples of --data as TFRecord shards and a manifest, for --data records:DIR (image apps)",
    )
    prepare.add_argument(
        "--output",
        required=True,
        metavar="DIR",
        help="a new folder for the shards and manifest.json (written whole or not at all)",
    )
    prepare.add_argument(
        "--shard-mb", type=float, default=128, metavar="MB", help="target size of one shard file (default %(default)s)"
    )
    prepare.add_argument(
        "--verify",
        action="store_true",
        help="check the sha256 of every shard under --output against its manifest instead",
    )
    add_config_arguments(prepare, app.config_class)


def _add_data_service_parser(commands):
    """`kapps data-service dispatcher|worker`: the tf.data service (`apps.core.data_service`)."""
    service = commands.add_parser(
        "data-service", help="run a tf.data service dispatcher or worker (for train --data-service grpc://HOST:PORT)"
    )
    roles = service.add_subparsers(dest="role", required=True, metavar="ROLE")
    dispatcher = roles.add_parser("dispatcher", help="the service's dispatcher: trainers and workers connect to it")
    dispatcher.add_argument("--port", type=int, default=5050, help="port to listen on (default %(default)s)")
    dispatcher.add_argument(
        "--work-dir",
        help="folder for the dispatcher's journal: a restarted dispatcher resumes its jobs (fault tolerant mode)",
    )
    worker = roles.add_parser("worker", help="a worker: runs input pipelines for the dispatcher's jobs")
    worker.add_argument("--dispatcher", required=True, metavar="HOST:PORT", help="the dispatcher's address")
    worker.add_argument("--port", type=int, default=5051, help="port to listen on (default %(default)s)")
    worker.add_argument(
        "--worker-address",
        metavar="HOST:PORT",
        help="how trainers reach this worker (default localhost:PORT; on a cluster, the pod's address)",
    )


def new_parser(description):
    """`kapps`'s parser with its `--backend` flag, and its (empty) commands."""
    parser = argparse.ArgumentParser(
        prog="kapps", description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=BACKENDS, help="Keras backend (default: $KERAS_BACKEND, else tensorflow)")
    return parser, parser.add_subparsers(dest="command", required=True, metavar="COMMAND")


def add_commands(commands, registry, extra_actions=None):
    """`list`, `data-service` and one command per app, whose actions are the apps' and `extra_actions`
    (`{name: ExtraAction}`)."""
    commands.add_parser("list", help="list the apps")
    _add_data_service_parser(commands)
    for name in registry.names():
        entry = registry.entry(name)
        _add_action_parsers(commands.add_parser(name, help=entry.title), entry, extra_actions or {})


def build_parser(registry):
    parser, commands = new_parser(__doc__)
    add_commands(commands, registry)
    return parser


def _run_action(app, args):
    from apps.core import workflow
    from apps.core.config import overrides_from_args

    overrides = overrides_from_args(args)
    if args.action == "train":
        run, metrics = workflow.train(app, app.default_config().replace(**overrides), args.run_dir)
        print(app.report(metrics))
        print(f"Saved {run.model_path} and {run.metrics_path}")
    elif args.action == "evaluate":
        run, metrics = workflow.evaluate(app, args.run_dir, overrides)
        print(workflow.card(app, run.path))
        print(f"Saved {run.metrics_path}")
    elif args.action == "export":
        path = workflow.export(app, args.run_dir, args.model_base_path, args.version, args.gate_tolerance, args.force)
        print(f"Exported {app.name} to {path}")
    elif args.action == "predict":
        items = list(args.inputs) + [
            f"{key[len('predict__') :]}={value}"
            for key, value in vars(args).items()
            if key.startswith("predict__") and value is not None
        ]
        print(workflow.predict(app, items, args.model_base_path, args.server, args.output))
    elif args.action == "prepare-data":
        _prepare_data(app, args, overrides)


def _prepare_data(app, args, overrides):
    from apps.core import records

    if args.verify:
        print(f"{records.verify_records(args.output, app)} shard(s) match their sha256 in {args.output}")
        return
    config = app.default_config().replace(**overrides).validate()
    records.prepare_data(app, config, args.output, args.shard_mb)


def backend_from(argv):
    """The Keras backend `--backend` names (anywhere in `argv`), else the environment's, set before Keras
    loads; and `argv` without the flag."""
    backend, argv = pop_backend(argv)
    try:
        return select_backend(backend), argv
    except (ValueError, RuntimeError) as error:
        raise SystemExit(f"kapps: {error}") from None


def run(registry, args, backend, extra_actions=None):
    """Runs a parsed command: `list`, `data-service`, or an app's action (`extra_actions`' included);
    errors that are the user's to fix end the command with one line each."""
    if args.command == "list":
        for name in registry.names():
            print(f"{name:<12} {registry.entry(name).title}")
        return 0
    if args.command == "data-service":
        import_tensorflow_quietly()
        from apps.core.data_service import run_command

        run_command(args)
        return 0
    if args.action == "train":
        from apps.core.distribute import prepare_host_devices

        prepare_host_devices(backend, args.config__distribute, args.config__replicas or 0)
    import_tensorflow_quietly()  # before the app, which loads TensorFlow for its pipelines
    app = registry.get(args.command)
    extra = (extra_actions or {}).get(args.action)
    try:
        if extra is not None:
            extra.run(app, args)
        else:
            _run_action(app, args)
    except _user_errors() as error:
        raise SystemExit(f"kapps {args.command} {args.action}: {_one_line_per_error(error)}") from None
    return 0


def main(argv=None):
    backend, argv = backend_from(sys.argv[1:] if argv is None else list(argv))
    from apps.catalog import load_apps

    registry = load_apps()
    return run(registry, build_parser(registry).parse_args(argv), backend)


def _user_errors():
    """Errors that are the user's to fix (bad flags, files, data, inputs): printed as
    one line each, without a traceback."""
    from apps.core.config import ConfigError
    from apps.core.data import DataSourceError
    from apps.core.errors import InputError

    return (FileNotFoundError, FileExistsError, DataSourceError, ConfigError, InputError)


def _one_line_per_error(error):
    return "\n".join(line for line in str(error).splitlines() if line.strip())


if __name__ == "__main__":
    sys.exit(main())
