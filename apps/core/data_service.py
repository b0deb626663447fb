"""The tf.data service as the input engine: `--data-service grpc://HOST:PORT` and `kapps data-service`.

With `--data-service`, the training split's whole pipeline (reading, decoding, augmentation,
batching) runs on tf.data service workers, other machines' CPUs, and the trainer only receives
batches: `tf.data.experimental.service.distribute` in `distributed_epoch` mode, where the
workers split the source (the index's `from_tensor_slices`, the records' shard files) between
them and every example is read once per epoch. Examples come in whatever order the workers
finish them; the trainer regroups them into `--batch-size` batches. Validation and test splits
stay local.

`kapps data-service dispatcher --port P` and `kapps data-service worker --dispatcher HOST:P`
start the service (`deploy/training/data-service.yaml` on Kubernetes).
"""

import signal
import socket
import threading

from apps.core.errors import ConfigError

SCHEME = "grpc://"
CONNECT_SECONDS = 10


def parse_address(address):
    """`(host, port)` of a `grpc://HOST:PORT` service address; `ConfigError` otherwise."""
    host, _, port = address[len(SCHEME) :].rpartition(":") if address.startswith(SCHEME) else ("", "", "")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--data-service must be grpc://HOST:PORT (the dispatcher's address), got {address!r}.")
    return host, int(port)


def check_reachable(address, seconds=CONNECT_SECONDS):
    """Raises `ConfigError` when the dispatcher at `address` does not accept a connection
    within `seconds` (the service itself would retry for an hour before failing)."""
    host, port = parse_address(address)
    try:
        socket.create_connection((host, port), timeout=seconds).close()
    except OSError as error:
        raise ConfigError(
            f"--data-service {address}: no tf.data dispatcher answers there ({error}); start one "
            f"with `kapps data-service dispatcher --port {port}`."
        ) from None


def through_data_service(data, config):
    """`data` (the app's `DataSplits`) with its training split read through the tf.data
    service at `config.data_service`; `data` itself when the flag is empty.

    The workers' batches are regrouped on the trainer into `--batch-size` batches (padded with
    zeros where examples vary in size, the suite's padding convention) so that every epoch has
    the same, known number of steps: each worker's last batch of an epoch is short, and Keras
    fixes an epoch's length from the first epoch. Each pass (epoch) is its own anonymous job: a
    job name would let an epoch's iterator join the job of the previous one, which Keras leaves
    unfinished when it stops at the known step count."""
    if not config.data_service:
        return data
    import tensorflow as tf

    from apps.core.data import rebatch

    check_reachable(config.data_service)
    served = data.train.apply(
        tf.data.experimental.service.distribute(processing_mode="distributed_epoch", service=config.data_service)
    )
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
    train = rebatch(served, config.batch_size, data.train_examples).with_options(options)
    source = f"{data.source}; training input from the tf.data service at {config.data_service}"
    return data.replace(train=train, source=source)


def start_dispatcher(port=0, work_dir=None):
    """A tf.data `DispatchServer` on `port` (0: a free one); with `work_dir`, fault tolerant:
    its journal there lets a restarted dispatcher resume its jobs."""
    import tensorflow as tf

    service = tf.data.experimental.service
    config = service.DispatcherConfig(port=port, work_dir=work_dir, fault_tolerant_mode=bool(work_dir))
    return service.DispatchServer(config)


def start_worker(dispatcher, port=0, worker_address=None):
    """A tf.data `WorkerServer` on `port` registered with the dispatcher at `dispatcher`
    (`HOST:PORT`); `worker_address` is how others reach it (default `localhost:PORT`)."""
    import tensorflow as tf

    service = tf.data.experimental.service
    dispatcher = dispatcher.removeprefix(SCHEME)
    config = service.WorkerConfig(
        dispatcher_address=dispatcher, port=port, worker_address=worker_address or "localhost:%port%"
    )
    return service.WorkerServer(config)


def serve_until_interrupted(server, line, print_line=print):
    """Prints `line` and serves until Ctrl-C or SIGTERM, then stops the server. A second Ctrl-C
    while it stops (a worker finishing its tasks) ends the process at once."""
    stop = threading.Event()
    previous = {number: signal.signal(number, lambda *_: stop.set()) for number in (signal.SIGINT, signal.SIGTERM)}
    print_line(line, flush=True)
    try:
        stop.wait()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
    server.stop()
    print_line("Stopped.", flush=True)


def run_command(args):
    """`kapps data-service dispatcher|worker`: start one server, say where it listens, serve."""
    if args.role == "dispatcher":
        server = start_dispatcher(args.port, args.work_dir)
        line = f"tf.data dispatcher listening on {server.target} (trainers: --data-service {server.target})"
    else:
        server = start_worker(args.dispatcher, args.port, args.worker_address)
        line = f"tf.data worker listening on port {server._server.bound_port()}, serving {args.dispatcher}"
    serve_until_interrupted(server, line)
