"""`kapps serve`: a TF Serving-compatible model server (REST + gRPC) for machines without Docker.

Flags are named as `tensorflow_model_server` names them:

    kapps serve --model_name=digits --model_base_path=models/digits --rest_api_port=8501
    kapps serve --model_config_file=models/models.config --enable_batching \\
                --batching_parameters_file=serving/deploy/batching_parameters.txt

As with TF Serving, `--model_base_path` is the model's folder (holding numbered
version folders) and `--rest_api_port=0` turns REST off. Unlike the Docker
image, it listens on 127.0.0.1 unless `--host` says otherwise.
"""

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from serving.chunking import DEFAULT_CHUNK_ROWS
from serving.errors import PortInUse

log = logging.getLogger("kapps.serving")


def _bool(text):
    value = str(text).strip().lower()
    if value in ("1", "true", "yes", "y", "on"):
        return True
    if value in ("0", "false", "no", "n", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="kapps serve", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--port", type=int, default=8500, help="gRPC port (0: a free port)")
    add("--rest_api_port", type=int, default=8501, help="REST port (0: REST off)")
    add("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    add("--model_name", default="default", help="name of the model (with --model_base_path)")
    add("--model_base_path", default="", help="folder holding the model's numbered versions")
    add("--model_config_file", default="", help="ModelServerConfig text file (model_config_list)")
    add(
        "--model_config_file_poll_wait_seconds",
        type=int,
        default=0,
        help="re-read --model_config_file this often (0: never)",
    )
    add(
        "--file_system_poll_wait_seconds",
        type=int,
        default=1,
        help="how often to look for new versions (0: once at start, <0: never)",
    )
    add(
        "--max_num_load_retries",
        type=int,
        default=5,
        help="load a version that failed to load again this many times (as TF Serving; a version "
        "copied in two steps fails its first load)",
    )
    add(
        "--load_retry_interval_micros",
        type=int,
        default=60_000_000,
        help="wait this long between the tries of a failed load (as TF Serving)",
    )
    add("--enable_batching", type=_bool, nargs="?", const=True, default=False)
    add("--batching_parameters_file", default="", help="BatchingParameters text file")
    add("--monitoring_config_file", default="", help="MonitoringConfig text file (Prometheus)")
    add("--enable_model_warmup", type=_bool, nargs="?", const=True, default=True)
    add("--rest_api_timeout_in_ms", type=int, default=30000)
    add("--rest_api_num_threads", type=int, default=0)
    add(
        "--max_body_bytes",
        type=int,
        default=64 << 20,
        help="largest accepted REST body and gRPC request message (gRPC's max_receive_message_length)",
    )
    add(
        "--idle_connection_timeout_seconds",
        type=float,
        default=300,
        help="close a REST or gRPC connection idle this long between requests (uvicorn's "
        "timeout_keep_alive; gRPC's grpc.max_connection_idle_ms, which TF Serving takes "
        "only through --grpc_channel_arguments)",
    )
    add(
        "--request_header_timeout_seconds",
        type=float,
        default=30,
        help="close a connection whose REST request header (or gRPC HTTP/2 preface: "
        "grpc.server_handshake_timeout_ms) has not arrived this long after the connection "
        "or the request began (uvicorn and httptools bound only the header's size)",
    )
    add(
        "--grpc_channel_arguments",
        default="",
        help="gRPC server options as TF Serving takes them: key=value,... "
        "(e.g. grpc.max_connection_idle_ms=60000); they override the flags above",
    )
    add(
        "--request_chunk_rows",
        type=int,
        default=DEFAULT_CHUNK_ROWS,
        help="run larger requests in chunks of at most this many rows (0: whole; with "
        "batching, max_batch_size bounds the chunk too)",
    )
    add(
        "--release_memory",
        type=_bool,
        nargs="?",
        const=True,
        default=True,
        help="return freed memory to the system after a spike (malloc_trim; see serving/memory.py)",
    )
    add(
        "--ui",
        type=_bool,
        default=True,
        help="serve a page per model at /ui/ on the REST port (on|off; default on; see serving/ui.py)",
    )
    add("--tensorflow_intra_op_parallelism", type=int, default=0)
    add("--tensorflow_inter_op_parallelism", type=int, default=0)
    return parser


def server_config(args):
    """The `ModelServerConfig` the flags describe."""
    from tensorflow_serving.config import model_server_config_pb2

    from serving.model_config import read_model_config
    from serving.model_manager import check_model_name

    if args.model_config_file:
        if args.model_base_path:
            raise SystemExit("Use either --model_config_file or --model_base_path, not both.")
        return read_model_config(args.model_config_file)
    if not args.model_base_path:
        raise SystemExit("Give --model_base_path (with --model_name) or --model_config_file.")
    check_model_name(args.model_name)
    config = model_server_config_pb2.ModelServerConfig()
    model = config.model_config_list.config.add()
    model.name = args.model_name
    model.base_path = str(Path(args.model_base_path).resolve())
    model.model_platform = "tensorflow"
    return config


class ModelServer:
    """Model manager + gRPC + REST, started and stopped together."""

    def __init__(
        self,
        config,
        grpc_port=8500,
        rest_api_port=8501,
        host="127.0.0.1",
        poll_wait_seconds=1.0,
        batching=None,
        enable_warmup=True,
        prometheus_path=None,
        rest_api_timeout_in_ms=30000,
        max_body_bytes=64 << 20,
        rest_api_num_threads=0,
        intra_op_threads=0,
        inter_op_threads=0,
        request_chunk_rows=DEFAULT_CHUNK_ROWS,
        release_memory=False,
        max_num_load_retries=5,
        load_retry_interval_micros=60_000_000,
        idle_connection_timeout_seconds=300,
        request_header_timeout_seconds=30,
        grpc_channel_arguments=(),
        ui=True,
    ):
        from serving.metrics import Metrics
        from serving.model_manager import ModelManager
        from serving.servable import SavedModelServable

        def factory(name, version, path):
            return SavedModelServable(name, version, path, intra_op_threads, inter_op_threads)

        self.metrics = Metrics(enabled=prometheus_path is not None)
        self.manager = ModelManager(
            config,
            poll_wait_seconds,
            enable_warmup,
            batching,
            self.metrics,
            servable_factory=factory,
            max_chunk_rows=request_chunk_rows,
            max_num_load_retries=max_num_load_retries,
            load_retry_interval_seconds=load_retry_interval_micros / 1e6,
        )
        self.host = host
        self.grpc_port = grpc_port
        self.rest_api_port = rest_api_port
        self.prometheus_path = prometheus_path
        self.rest_api_timeout_in_ms = rest_api_timeout_in_ms
        self.max_body_bytes = max_body_bytes
        self.rest_api_num_threads = rest_api_num_threads
        self.connection_timeouts = (idle_connection_timeout_seconds, request_header_timeout_seconds)
        self.grpc_channel_arguments = grpc_channel_arguments
        self.grpc = None
        self.rest = None
        self.release_memory = release_memory
        self.releaser = None
        self.ui = ui

    def start(self):
        from serving.grpc_service import GrpcServer
        from serving.memory import MemoryReleaser
        from serving.rest import RestServer
        from serving.ui import UiPages

        self.manager.start()
        if self.release_memory:
            self.releaser = MemoryReleaser().start()
        try:
            if self.grpc_port is not None:
                self.grpc = GrpcServer(
                    self.manager,
                    self.metrics,
                    self.host,
                    self.grpc_port,
                    max_message_bytes=self.max_body_bytes,
                    idle_timeout_seconds=self.connection_timeouts[0],
                    header_timeout_seconds=self.connection_timeouts[1],
                    channel_arguments=self.grpc_channel_arguments,
                ).start()
                self.grpc_port = self.grpc.port
            if self.rest_api_port is not None:
                pages = UiPages(self.manager) if self.ui else None
                self.rest = RestServer(
                    self.manager,
                    self.metrics,
                    self.host,
                    self.rest_api_port,
                    self.rest_api_timeout_in_ms,
                    self.prometheus_path,
                    self.max_body_bytes,
                    self.rest_api_num_threads or None,
                    *self.connection_timeouts,
                    ui=pages,
                ).start()
                self.rest_api_port = self.rest.port
        except Exception:
            self.stop()
            raise
        return self

    def stop(self):
        if self.releaser is not None:
            self.releaser.stop()
        if self.rest is not None:
            self.rest.stop()
        if self.grpc is not None:
            self.grpc.stop()
        self.manager.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def _config_poller(server, path, seconds, stop):
    from serving.model_config import read_model_config

    while not stop.wait(seconds):
        try:
            server.manager.reload_config(read_model_config(path))
        except Exception as error:  # noqa: BLE001
            log.error("Reloading %s failed: %s", path, error)


def main(argv=None):
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.release_memory:
        from serving.memory import use_system_allocator

        use_system_allocator()
    from serving.batching import BatchingOptions, read_batching_parameters
    from serving.grpc_service import parse_channel_arguments
    from serving.model_config import read_monitoring_config

    config = server_config(args)
    try:
        channel_arguments = parse_channel_arguments(args.grpc_channel_arguments)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    batching = None
    if args.enable_batching:
        batching = (
            read_batching_parameters(args.batching_parameters_file)
            if args.batching_parameters_file
            else BatchingOptions()
        )
    elif args.batching_parameters_file:
        log.warning("--batching_parameters_file is ignored without --enable_batching")
    prometheus_path = None
    if args.monitoring_config_file:
        monitoring = read_monitoring_config(args.monitoring_config_file)
        if monitoring.prometheus_config.enable:
            from serving.extra_protos import DEFAULT_PROMETHEUS_PATH

            prometheus_path = monitoring.prometheus_config.path or DEFAULT_PROMETHEUS_PATH
    server = ModelServer(
        config,
        grpc_port=args.port,
        rest_api_port=args.rest_api_port or None,
        host=args.host,
        poll_wait_seconds=args.file_system_poll_wait_seconds,
        batching=batching,
        enable_warmup=args.enable_model_warmup,
        prometheus_path=prometheus_path,
        rest_api_timeout_in_ms=args.rest_api_timeout_in_ms,
        max_body_bytes=args.max_body_bytes,
        rest_api_num_threads=args.rest_api_num_threads,
        intra_op_threads=args.tensorflow_intra_op_parallelism,
        inter_op_threads=args.tensorflow_inter_op_parallelism,
        request_chunk_rows=args.request_chunk_rows,
        release_memory=args.release_memory,
        max_num_load_retries=args.max_num_load_retries,
        load_retry_interval_micros=args.load_retry_interval_micros,
        idle_connection_timeout_seconds=args.idle_connection_timeout_seconds,
        request_header_timeout_seconds=args.request_header_timeout_seconds,
        grpc_channel_arguments=channel_arguments,
        ui=args.ui,
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):  # before the lines that tell clients it is up
        signal.signal(signum, lambda *_: stop.set())
    try:
        server.start()
    except PortInUse as error:
        raise SystemExit(f"kapps serve: {error}") from None
    print(f"Running gRPC ModelServer at {args.host}:{server.grpc_port} ...", flush=True)
    if server.rest is not None:
        print(f"Exporting HTTP/REST API at:{args.host}:{server.rest_api_port} ...", flush=True)
        if args.ui:
            print(f"Pages at http://{args.host}:{server.rest_api_port}/ui/", flush=True)
    if args.model_config_file and args.model_config_file_poll_wait_seconds > 0:
        threading.Thread(
            target=_config_poller,
            daemon=True,
            args=(server, args.model_config_file, args.model_config_file_poll_wait_seconds, stop),
        ).start()
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
