"""Serving benchmark: the exported digits model over REST and gRPC vs. in process.

    python benchmarks/serving.py [--seconds 3] [--json out.json]

Exports an (untrained: latency does not depend on the weights) digits model,
times the SavedModel signature called in process, then starts `kapps serve`
in a subprocess with batching off and on, and measures p50/p99 latency and
requests/s at concurrency 1, 8 and 32 (closed-loop clients on one asyncio event
loop, one image per request; REST responses parsed with httptools, as uvicorn parses requests).
With two or more cores the server and the in-process calls run on one core and
the load-generating client on another (CPU affinity), as a server and its
clients would on separate machines; `--no-pin` shares all cores instead.
The batching-on server gets batching parameters set as TF Serving's batching
guide sets them for a CPU: num_batch_threads = the server's cores, max_batch_size
32 (the clients), batch_timeout_micros 5000 (`--batch-timeout-micros`).
Goals: REST p50 overhead <= 1 ms over in-process at batch 1; batching >= 3x
throughput at 32 concurrent clients. The benchmark also times the model alone at
batch 1 and batch 32: the ratio of its cost per image is what batching gains on
the model's own work here (on a CPU a convolution's cost grows with the batch;
on a GPU a small batch costs about as much as one image). The server can gain a
little more, as batching also saves the unbatched path's per-request costs (a
thread hand-off and a session run competing with 31 others).
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# The batch the batching gain is judged at: 32 concurrent clients, max_batch_size 32.
BOUND_BATCH = 32


def export_digits(base):
    from apps.core.workflow import export_app_model
    from apps.digits.app import DigitsApp
    from apps.digits.config import DigitsConfig
    from apps.digits.model import build_model

    app, config = DigitsApp(), DigitsConfig()
    return export_app_model(app, build_model(config, 1000), config, base)


def percentiles(latencies):
    values = np.asarray(latencies) * 1e3
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def in_process(path, image, seconds):
    import tensorflow as tf

    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    tensor = tf.constant(image[None])
    for _ in range(20):
        signature(images=tensor)
    latencies, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        signature(images=tf.constant(image[None]))
        latencies.append(time.perf_counter() - start)
    return latencies


def in_process_session(path, image, seconds, batch=1):
    """The same SavedModel through the session callable the server uses (no HTTP, no JSON),
    `batch` copies of the image per call."""
    from serving.servable import SavedModelServable

    servable = SavedModelServable("digits", 1, path)
    inputs = {"images": np.repeat(image[None], batch, axis=0)}
    for _ in range(20):
        servable.run("serving_default", inputs)
    latencies, deadline = [], time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        servable.run("serving_default", inputs)
        latencies.append(time.perf_counter() - start)
    servable.close()
    return latencies


def batching_bound(path, image, seconds, batch, single_ms):
    """What batching gains on the model's own work here: its cost per image at
    batch 1 (`single_ms`, the median session call) over its cost per image at `batch`,
    with no front end at all."""
    single = single_ms / 1e3
    batched = np.median(in_process_session(path, image, seconds, batch)) / batch
    return {
        "batch": batch,
        "ms_per_image_batch_1": 1e3 * single,
        "ms_per_image_batched": 1e3 * batched,
        "gain": float(single / batched),
    }


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cores():
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def pin(core):
    """A `preexec_fn` (or a call) putting a process on one core; None when not pinning."""
    return None if core is None else (lambda: os.sched_setaffinity(0, {core}))


def write_batching_parameters(path, num_batch_threads, batch_timeout_micros):
    """TF Serving's batching parameters for the benchmark's server, as its batching guide tunes
    them for a CPU: one batch thread per core the server has, batches of up to the 32 clients,
    and a timeout long enough for a batch to fill."""
    from google.protobuf import text_format

    from serving.extra_protos import BatchingParameters

    params = BatchingParameters()
    params.max_batch_size.value = BOUND_BATCH
    params.batch_timeout_micros.value = batch_timeout_micros
    params.num_batch_threads.value = num_batch_threads
    params.max_enqueued_batches.value = 100
    Path(path).write_text(text_format.MessageToString(params))
    return params


def start_server(base, batching_file=None, core=None):
    rest, grpc_port = free_port(), free_port()
    command = [
        sys.executable,
        "-m",
        "kapps",
        "serve",
        "--port",
        str(grpc_port),
        "--rest_api_port",
        str(rest),
        "--model_name",
        "digits",
        "--model_base_path",
        str(base / "digits"),
        "--file_system_poll_wait_seconds",
        "0",
    ]
    if batching_file:
        command += ["--enable_batching", "--batching_parameters_file", str(batching_file)]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        preexec_fn=pin(core),
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("Exporting HTTP/REST API"):
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, rest, grpc_port
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError("kapps serve did not start")


class RestConnection:
    """One keep-alive HTTP/1.1 connection sending a prepared request; responses are parsed
    by httptools (the parser uvicorn uses), so that one client core can load the server."""

    def __init__(self, loop):
        import httptools

        self.loop = loop
        self.parser = httptools.HttpResponseParser(self)
        self.transport = self.waiter = None
        self.body = []

    # asyncio.Protocol
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.parser.feed_data(data)

    def connection_lost(self, error):
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"server closed the connection: {error}"))

    # httptools callbacks
    def on_body(self, body):
        self.body.append(body)

    def on_message_complete(self):
        self.waiter.set_result(self.parser.get_status_code())

    async def send(self, request):
        self.waiter, self.body = self.loop.create_future(), []
        self.transport.write(request)
        status = await self.waiter
        if status != 200:
            raise RuntimeError(b"".join(self.body)[:200])


def rest_caller(port, image):
    """A coroutine factory: each worker opens its own connection and posts the image."""
    body = json.dumps({"instances": [image.tolist()]}).encode()
    request = (
        f"POST /v1/models/digits:predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body

    async def connect():
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(lambda: RestConnection(loop), "127.0.0.1", port)
        return lambda: connection.send(request)

    return connect


def grpc_caller(port, image):
    """A coroutine factory: each worker is a client with its own `grpc.aio` channel."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "digits"
    request.inputs["images"].CopyFrom(tf.make_tensor_proto(image[None]))

    async def connect():
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.aio.insecure_channel(f"127.0.0.1:{port}"))
        return lambda: stub.Predict(request, timeout=60)

    return connect


async def _load(connect, concurrency, seconds):
    calls = [await connect() for _ in range(concurrency)]
    for call in calls:
        for _ in range(3):
            await call()
    deadline = time.perf_counter() + seconds
    latencies = []

    async def worker(call):
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            await call()
            latencies.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(worker(call) for call in calls))
    return latencies, time.perf_counter() - started


def load(connect, concurrency, seconds):
    """`concurrency` clients, each sending its next request as soon as the last is answered
    (closed loop), all on one asyncio event loop of the client's core."""
    latencies, elapsed = asyncio.run(_load(connect, concurrency, seconds))
    p50, p99 = percentiles(latencies)
    return {"p50_ms": p50, "p99_ms": p99, "rps": len(latencies) / elapsed, "requests": len(latencies)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--json", help="write the results here")
    parser.add_argument(
        "--batch-timeout-micros", type=int, default=5000, help="batch_timeout_micros of the batching-on server"
    )
    parser.add_argument("--no-pin", action="store_true", help="do not give the server and the client a core each")
    args = parser.parse_args(argv)
    available = cores()
    server_core, client_core = (
        (available[-1], available[0]) if len(available) >= 2 and not args.no_pin else (None, None)
    )
    if server_core is not None:
        print(f"server and in-process calls on core {server_core}, client on core {client_core}")
        pin(server_core)()

    base = Path(tempfile.mkdtemp(prefix="kapps-bench-"))
    path = export_digits(base)
    image = np.random.default_rng(0).random((28, 28), dtype=np.float32)
    p50, p99 = percentiles(in_process(path, image, args.seconds))
    results = {
        "in_process": {"p50_ms": p50, "p99_ms": p99},
        "runs": [],
        "server_core": server_core,
        "client_core": client_core,
    }
    print(f"in-process SavedModel call, batch 1: p50 {p50:.3f} ms  p99 {p99:.3f} ms")
    s50, s99 = percentiles(in_process_session(path, image, args.seconds))
    results["in_process_session"] = {"p50_ms": s50, "p99_ms": s99}
    print(f"in-process session callable (server's runtime), batch 1: p50 {s50:.3f} ms  p99 {s99:.3f} ms")
    bound = results["model_batching_bound"] = batching_bound(path, image, args.seconds, BOUND_BATCH, s50)
    print(
        f"session callable, batch {BOUND_BATCH}: {bound['ms_per_image_batched']:.3f} ms per image "
        f"against {bound['ms_per_image_batch_1']:.3f} ms at batch 1: batching can raise this model's "
        f"throughput on this machine at most {bound['gain']:.2f}x, before any front-end cost"
    )
    batching_file = base / "batching_parameters.txt"
    params = write_batching_parameters(
        batching_file, 1 if server_core is not None else len(available) or 1, args.batch_timeout_micros
    )
    results["batching_parameters"] = {field.name: value.value for field, value in params.ListFields()}
    print("batching on:", " ".join(f"{k}={v}" for k, v in results["batching_parameters"].items()))
    if client_core is not None:
        pin(client_core)()
    print(f"{'protocol':<6} {'batching':<8} {'conc':>4} {'p50 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for batching in (False, True):
        process, rest_port, grpc_port = start_server(base, batching_file if batching else None, server_core)
        try:
            for protocol, make in (("rest", rest_caller), ("grpc", grpc_caller)):
                call = make(rest_port if protocol == "rest" else grpc_port, image)
                for concurrency in args.concurrency:
                    run = {
                        "protocol": protocol,
                        "batching": batching,
                        "concurrency": concurrency,
                        **load(call, concurrency, args.seconds),
                    }
                    results["runs"].append(run)
                    print(
                        f"{protocol:<6} {'on' if batching else 'off':<8} {concurrency:>4} "
                        f"{run['p50_ms']:>8.3f} {run['p99_ms']:>8.3f} {run['rps']:>8.1f}",
                        flush=True,
                    )
        finally:
            process.terminate()
            process.wait(30)

    def find(protocol, batching, concurrency):
        return next(
            r
            for r in results["runs"]
            if (r["protocol"], r["batching"], r["concurrency"]) == (protocol, batching, concurrency)
        )

    overhead = find("rest", False, 1)["p50_ms"] - p50
    print(
        f"\nREST p50 overhead at batch 1: {overhead:.3f} ms over the SavedModel signature call, "
        f"{find('rest', False, 1)['p50_ms'] - s50:.3f} ms over the session callable (goal <= 1 ms)"
    )
    if 32 in args.concurrency:
        for protocol in ("rest", "grpc"):
            gain = find(protocol, True, 32)["rps"] / find(protocol, False, 32)["rps"]
            results[f"{protocol}_batching_gain_at_32"] = gain
            print(
                f"{protocol} batching throughput gain at 32 clients: {gain:.2f}x (goal >= 3x; "
                f"the model alone gains {results['model_batching_bound']['gain']:.2f}x from batching here)"
            )
    results["rest_p50_overhead_ms"] = overhead
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
