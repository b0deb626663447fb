"""TF Serving's REST API (api_rest.md) on tornado.

    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]            model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata   model metadata
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict|classify|regress
    GET  <prometheus path>                                       metrics (if enabled)

Errors are `{"error": "..."}` with the HTTP status TF Serving maps the canonical
code to. Bodies are read incrementally and refused past `max_body_bytes`.
"""

import asyncio
import concurrent.futures
import logging
import os
import re
import threading
import time
import urllib.parse

import tornado.httpserver
import tornado.netutil
import tornado.web
from google.protobuf import json_format
from tensorflow_serving.apis import get_model_status_pb2

from serving import inference, json_codec
from serving.errors import ServingError, invalid_argument
from serving.grpc_service import model_status_response
from serving.metrics import Timer

log = logging.getLogger("kapps.serving.rest")

PREDICT_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)",
    re.IGNORECASE)
STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?",
    re.IGNORECASE)
DEFAULT_MAX_BODY_BYTES = 64 << 20
DRAIN_FACTOR = 4
# Requests from other connections this recent mean clients are concurrent.
CONCURRENCY_WINDOW_SECONDS = 0.05
INT64_MAX = 2 ** 63 - 1


def _version(text):
    if text is None:
        return None
    value = int(text)
    if value > INT64_MAX:
        raise invalid_argument(f"Failed to convert version: {text} to numeric.")
    return value


def _name(text):
    return urllib.parse.unquote(text) if text is not None else None


def _json(message):
    return json_format.MessageToJson(message, preserving_proto_field_name=True,
                                     always_print_fields_with_no_presence=True, indent=1)


@tornado.web.stream_request_body
class ApiHandler(tornado.web.RequestHandler):
    SUPPORTED_METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS")

    def initialize(self, server):
        self.server = server
        self._chunks = []
        self._received = 0
        self._too_large = False

    # ----- body ---------------------------------------------------------------
    def prepare(self):
        # A body over the limit is drained (up to DRAIN_FACTOR times the limit) so that the
        # client reads a clean 413 answer; anything larger is refused before it is read.
        length = self.request.headers.get("Content-Length")
        limit = self.server.max_body_bytes
        if length is not None and length.isdigit() and int(length) > DRAIN_FACTOR * limit:
            self._too_large = True
            self._send_error(ServingError(_resource_exhausted(), f"Request body of {length} bytes is "
                                          f"larger than the limit of {limit} bytes"), status=413)
            return
        self.request.connection.set_max_body_size(DRAIN_FACTOR * limit)

    def data_received(self, chunk):
        self._received += len(chunk)
        if self._received > self.server.max_body_bytes:
            self._too_large = True
            self._chunks = []
        elif not self._too_large:
            self._chunks.append(chunk)

    def _body(self):
        if self._too_large:
            raise _TooLarge()
        return b"".join(self._chunks)

    # ----- responses ----------------------------------------------------------
    def _send_json(self, text, status=200):
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(text)

    def _send_error(self, error, status=None):
        self._send_json(json_codec.dumps({"error": error.message}), status or error.http_status)

    def write_error(self, status_code, **kwargs):  # tornado's own errors, as JSON too
        self.set_header("Content-Type", "application/json")
        self.finish(json_codec.dumps({"error": self._reason or f"HTTP {status_code}"}))

    # ----- routing ------------------------------------------------------------
    async def get(self):
        await self._dispatch("GET")

    async def post(self):
        await self._dispatch("POST")

    async def put(self):
        await self._dispatch("PUT")

    async def delete(self):
        await self._dispatch("DELETE")

    async def patch(self):
        await self._dispatch("PATCH")

    async def options(self):
        await self._dispatch("OPTIONS")

    async def head(self):
        self.set_status(400)
        self.finish()

    async def _dispatch(self, method):
        if self._finished:
            return
        path = self.request.path
        timer = Timer()
        model_name, api = "", "unknown"
        try:
            prometheus = self.server.prometheus_path
            if prometheus and path == prometheus and method == "GET":
                self.set_header("Content-Type", "text/plain; version=0.0.4")
                self.finish(self.server.metrics.render())
                return
            if not path.lower().startswith("/v1/"):
                raise ServingError(_not_found_code(), f"Not found: {method} {path[:200]}")
            match = PREDICT_PATH.fullmatch(path) if method == "POST" else None
            if match:
                model_name, version, label, api = match.groups()
                model_name, label = _name(model_name), _name(label)
                body = self._body()
                text = await self.server.predict_like(api.lower(), model_name, _version(version),
                                                      label, body, id(self.request.connection))
                self._send_json(text)
            else:
                match = STATUS_PATH.fullmatch(path) if method == "GET" else None
                if not match:
                    raise invalid_argument(f"Malformed request: {method} {path[:200]}")
                model_name, version, label, metadata = match.groups()
                if not model_name:
                    raise invalid_argument("Missing model name in request.")
                model_name, label = _name(model_name), _name(label)
                api = "metadata" if metadata else "status"
                self._send_json(self.server.status_or_metadata(
                    model_name, _version(version), label, bool(metadata)))
            self.server.metrics.record_request(model_name, api, "REST", "OK", timer.elapsed())
        except _TooLarge:
            limit = self.server.max_body_bytes
            self._send_error(ServingError(_resource_exhausted(),
                                          f"Request body is larger than the limit of {limit} bytes"),
                             status=413)
        except ServingError as error:
            self._send_error(error)
            self.server.metrics.record_request(model_name or "", api, "REST", error.code_name,
                                               timer.elapsed())
        except asyncio.TimeoutError:
            self._send_error(ServingError(_deadline_code(), "Deadline Exceeded"))
        except Exception as error:  # noqa: BLE001 - a bug must not take the server down
            log.exception("Unexpected error on %s %s", method, path)
            self._send_error(ServingError(_internal_code(), f"Internal error: {error}"))


class _TooLarge(Exception):
    pass


def _resource_exhausted():
    import grpc

    return grpc.StatusCode.RESOURCE_EXHAUSTED


def _not_found_code():
    import grpc

    return grpc.StatusCode.NOT_FOUND


def _deadline_code():
    import grpc

    return grpc.StatusCode.DEADLINE_EXCEEDED


def _internal_code():
    import grpc

    return grpc.StatusCode.INTERNAL


class RestServer:
    """The REST front end: a tornado server on its own event-loop thread."""

    def __init__(self, manager, metrics, host="127.0.0.1", port=8501, timeout_ms=30000,
                 prometheus_path=None, max_body_bytes=DEFAULT_MAX_BODY_BYTES, num_threads=None):
        self.manager = manager
        self.metrics = metrics
        self.host = host
        self.port = port
        self.timeout = timeout_ms / 1000.0 if timeout_ms and timeout_ms > 0 else None
        self._timeout_ms = int(timeout_ms) if self.timeout else None
        # Only touched on the event-loop thread.
        self._predicting = 0  # predictions in flight on the executor or the batcher
        self._recent_connections = {}  # connection id -> when it last sent a prediction
        self.prometheus_path = prometheus_path
        self.max_body_bytes = max_body_bytes
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=num_threads or max(8, 4 * (os.cpu_count() or 1)), thread_name_prefix="rest")
        self._loop = None
        self._thread = None
        self._http = None

    # ----- request logic (event-loop thread) -------------------------------------
    async def predict_like(self, api, model_name, version, label, body, connection=None):
        with self.manager.acquire(model_name, version, label) as entry:
            if api == "predict":
                signature_name, inputs, fmt = json_codec.parse_predict(
                    body, lambda name: _rest_input_infos(entry, name))
                outputs = await self._predict(entry, signature_name or None, inputs, connection)
                return json_codec.dumps(json_codec.format_predict(outputs, fmt))
            signature_name, examples = json_codec.parse_examples(body)
            function = inference.classify if api == "classify" else inference.regress
            _, result = await self._result(
                self.executor.submit(function, entry, signature_name, examples))
            formatted = (json_codec.format_classify(result) if api == "classify"
                         else json_codec.format_regress(result))
            return json_codec.dumps(formatted)

    def _alone(self, connection):
        """Whether this connection is the only one that sent a request lately."""
        now = time.monotonic()
        recent = self._recent_connections
        recent[connection] = now
        if len(recent) > 1:
            for key, seen in list(recent.items()):
                if now - seen > CONCURRENCY_WINDOW_SECONDS:
                    del recent[key]
        return len(recent) == 1

    async def _predict(self, entry, signature_name, inputs, connection):
        """Runs a lone client's request inline on the event-loop thread (as each of TF
        Serving's HTTP threads runs its request; handing a small model's run to another
        thread costs about as much as the run), and otherwise on the executor or the batch
        scheduler, so that concurrent requests overlap."""
        if entry.scheduler is None and self._alone(connection) and not self._predicting:
            return entry.servable.run(signature_name, inputs, timeout_ms=self._timeout_ms)
        self._predicting += 1
        try:
            return await self._result(entry.submit(self.executor, signature_name, inputs))
        finally:
            self._predicting -= 1

    async def _result(self, future):
        """The result of a concurrent future, or TimeoutError past the REST timeout."""
        async with asyncio.timeout(self.timeout):
            return await asyncio.wrap_future(future)

    def status_or_metadata(self, model_name, version, label, metadata):
        if metadata:
            with self.manager.acquire(model_name, version, label) as entry:
                return _json(inference.metadata_response(entry))
        return _json(model_status_response(self.manager, model_name, version, label))

    # ----- lifecycle --------------------------------------------------------------
    def start(self):
        sockets = tornado.netutil.bind_sockets(self.port, address=self.host)
        self.port = sockets[0].getsockname()[1]
        ready = threading.Event()

        def serve():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)

            async def setup():
                app = tornado.web.Application([(r".*", ApiHandler, {"server": self})],
                                              compress_response=False,
                                              log_function=lambda handler: None)
                self._http = tornado.httpserver.HTTPServer(
                    app, max_body_size=1 << 62, idle_connection_timeout=300, body_timeout=300)
                self._http.add_sockets(sockets)

            self._loop.run_until_complete(setup())
            ready.set()
            self._loop.run_forever()
            self._loop.close()

        self._thread = threading.Thread(target=serve, name="rest-server", daemon=True)
        self._thread.start()
        ready.wait(30)
        return self

    def stop(self):
        if self._loop is None:
            return

        async def shutdown():
            self._http.stop()
            await self._http.close_all_connections()

        try:
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        except Exception:  # noqa: BLE001
            log.warning("REST server did not close cleanly")
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self.executor.shutdown(wait=False, cancel_futures=True)


def _rest_input_infos(entry, signature_name):
    name = signature_name or "serving_default"
    signature = entry.servable.signature_defs.get(name)
    if signature is None or name == "__saved_model_init_op":
        raise invalid_argument(f'Serving signature name: "{name}" not found in signature def')
    return dict(signature.inputs)


__all__ = ["RestServer", "get_model_status_pb2"]
