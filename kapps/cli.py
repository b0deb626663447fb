"""`kapps`: one command line for every app.

kapps list
kapps [--backend B] <app> train|evaluate|export|predict|tune|prepare-data [flags]
kapps serve [tensorflow_model_server flags]
kapps data-service dispatcher|worker [flags]
"""

import sys

from apps import cli as apps_cli
from apps.core.backend import import_tensorflow_quietly


def _add_tune_arguments(parser, app):
    from tuner import cli as tuner_cli

    tuner_cli.add_arguments(parser, app)


def _tune(app, args):
    from tuner import cli as tuner_cli

    tuner_cli.run(app, args)


EXTRA_ACTIONS = {"tune": apps_cli.ExtraAction("Keras Tuner search over the app's config", _add_tune_arguments, _tune)}
ACTIONS = (*apps_cli.ACTIONS, *EXTRA_ACTIONS)


def build_parser(registry):
    parser, commands = apps_cli.new_parser(__doc__)
    commands.add_parser("serve", help="TF Serving-compatible model server", add_help=False)
    apps_cli.add_commands(commands, registry, EXTRA_ACTIONS)
    return parser


def _serve(argv):
    from serving.server import build_parser as build_serve_parser

    build_serve_parser().parse_args(argv)  # --help and bad flags answer before TensorFlow loads
    from serving.memory import use_system_allocator

    use_system_allocator()  # before TensorFlow loads: freed buffers go back to the system
    import_tensorflow_quietly()
    from serving import server

    return server.main(argv)


def main(argv=None):
    backend, argv = apps_cli.backend_from(sys.argv[1:] if argv is None else list(argv))
    if argv[:1] == ["serve"]:
        return _serve(argv[1:])
    from apps.catalog import load_apps

    registry = load_apps()
    return apps_cli.run(registry, build_parser(registry).parse_args(argv), backend, EXTRA_ACTIONS)
