"""Keras Tuner's own distributed mode, from `--distributed chief|worker --oracle HOST:PORT`.

Keras Tuner reads three environment variables when a tuner is created:
`KERASTUNER_TUNER_ID` ("chief" for the process that runs the oracle as a gRPC
server, any other id for a worker), `KERASTUNER_ORACLE_IP` and
`KERASTUNER_ORACLE_PORT` (where the chief listens, where workers connect).
"""

import os
import socket

ENV_TUNER_ID = "KERASTUNER_TUNER_ID"
ENV_ORACLE_IP = "KERASTUNER_ORACLE_IP"
ENV_ORACLE_PORT = "KERASTUNER_ORACLE_PORT"
CHIEF_ID = "chief"


def parse_address(text):
    """`HOST:PORT` -> (host, port)."""
    host, separator, port = str(text).rpartition(":")
    if not separator or not host or not port.isdigit():
        raise ValueError(f"--oracle must be HOST:PORT, got {text!r}.")
    return host, int(port)


def default_worker_id():
    """Unique per process. Pass a stable `--tuner-id` instead to let a restarted
    worker pick up the trial it was running."""
    return f"worker-{socket.gethostname()}-{os.getpid()}"


def tuner_id_for(role, tuner_id=None):
    if role == "chief":
        return CHIEF_ID
    tuner_id = tuner_id or default_worker_id()
    if CHIEF_ID in tuner_id:
        raise ValueError(
            f"A worker id must not contain {CHIEF_ID!r} (Keras Tuner would take it for the chief), got {tuner_id!r}."
        )
    return tuner_id


def distributed_environment(role, oracle, tuner_id=None):
    """The environment variables for `role` ("chief" or "worker")."""
    host, port = parse_address(oracle)
    return {ENV_TUNER_ID: tuner_id_for(role, tuner_id), ENV_ORACLE_IP: host, ENV_ORACLE_PORT: str(port)}


def role_from_environment(environ=os.environ):
    """ "chief" or "worker" when Keras Tuner's variables are already set, else None."""
    if ENV_ORACLE_IP not in environ:
        return None
    return "chief" if CHIEF_ID in environ.get(ENV_TUNER_ID, "") else "worker"


def oracle_from_environment(environ=os.environ):
    """`HOST:PORT` from Keras Tuner's variables, or None."""
    if ENV_ORACLE_IP not in environ:
        return None
    return f"{environ[ENV_ORACLE_IP]}:{environ.get(ENV_ORACLE_PORT, '')}"


def configure_distributed(role, oracle, tuner_id=None, environ=os.environ):
    """Sets Keras Tuner's variables for `role` ("chief" or "worker")."""
    variables = distributed_environment(role, oracle, tuner_id)
    environ.update(variables)
    return variables
