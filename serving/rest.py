"""TF Serving's REST API (api_rest.md) as an ASGI application on uvicorn.

    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]            model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata   model metadata
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict|classify|regress
    GET  <prometheus path>                                       metrics (if enabled)
    GET  /ui/...                                                 the pages (`serving/ui.py`, if enabled)

Errors are `{"error": "..."}` with the HTTP status TF Serving maps the canonical
code to. Bodies are read incrementally and refused past `max_body_bytes`.
uvicorn (httptools parser, uvloop event loop) runs on its own thread. A lean HTTP
layer matters: for a small model the front end, not the model, bounds the
throughput (see benchmarks/serving.py).
"""

import asyncio
import concurrent.futures
import functools
import logging
import os
import re
import socket
import threading
import time
import urllib.parse

import grpc
import uvicorn
from google.protobuf import json_format
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

try:
    from uvloop import new_event_loop
except ImportError:  # no uvloop on Windows: asyncio's own loop, slower but the same API
    from asyncio import new_event_loop

from serving import inference, json_codec
from serving.errors import PortInUse, ServingError, invalid_argument
from serving.metrics import Timer
from serving.model_status import model_status_response

log = logging.getLogger("kapps.serving.rest")

PREDICT_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?:(classify|regress|predict)", re.IGNORECASE
)
STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?(?:/(metadata))?", re.IGNORECASE
)
DEFAULT_MAX_BODY_BYTES = 64 << 20
DRAIN_FACTOR = 4
INT64_MAX = 2**63 - 1
IDLE_CONNECTION_SECONDS = 300
HEADER_TIMEOUT_SECONDS = 30  # a connection whose request header has not arrived by then is closed
BODY_TIMEOUT_SECONDS = 300  # a client that stops sending its body loses the connection
JSON_TYPE = b"application/json"
PROMETHEUS_TYPE = b"text/plain; version=0.0.4"


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
    return json_format.MessageToJson(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True, indent=1
    )


class _TooLarge(Exception):
    """A body over the limit; `close` when it was too large to drain."""

    def __init__(self, close):
        super().__init__()
        self.close = close


class _Disconnected(Exception):
    pass


class _BodyTimeout(Exception):
    pass


async def read_body(scope, receive, limit):
    """The request body, or `_TooLarge` past `limit`.

    A body over the limit is drained (up to DRAIN_FACTOR times the limit) so that the
    client reads a clean 413 answer on a connection that stays open; a larger one is
    refused before it is read, and the connection closed.
    """
    length = dict(scope["headers"]).get(b"content-length")
    if length is not None and length.isdigit() and int(length) > DRAIN_FACTOR * limit:
        raise _TooLarge(close=True)
    chunks, received = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected()
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > DRAIN_FACTOR * limit:
            raise _TooLarge(close=True)
        if received <= limit:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    if received > limit:
        raise _TooLarge(close=False)
    return b"".join(chunks)


async def respond(send, status, body=b"", content_type=JSON_TYPE, close=False):
    """Sends a whole response; `close` ends the keep-alive connection after it."""
    if isinstance(body, str):
        body = body.encode("utf-8")
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def respond_error(send, error, status=None, close=False):
    """`{"error": message}` with the HTTP status TF Serving maps the error's code to."""
    # A message may quote the client's text, lone surrogates included (they have no UTF-8 form).
    message = error.message.encode("utf-8", "backslashreplace").decode("utf-8")
    await respond(send, status or error.http_status, json_codec.dumps({"error": message}), close=close)


def listening_socket(host, port, flag):
    """A socket bound to `host:port` for uvicorn (it listens on it); `PortInUse` naming `flag` when
    the address cannot be had (uvicorn's own `bind_socket` exits the process instead)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise PortInUse(host, port, flag, error.strerror) from None
    sock.set_inheritable(True)
    return sock


class HeaderTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that also closes a connection whose request header has not
    fully arrived `header_timeout` seconds after the connection opened or the request began.

    uvicorn arms its `timeout_keep_alive` only after a response, and any byte received disarms
    it, so a connection that never sends a request, or sends half a header (slowly), was held
    forever; uvicorn and httptools bound only the header's size.
    """

    def __init__(self, *args, header_timeout=HEADER_TIMEOUT_SECONDS, **kwargs):
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self._header_timer = None

    def _arm_header_timer(self):
        if self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_timeout, self._header_timed_out)

    def _disarm_header_timer(self):
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _header_timed_out(self):
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport):
        super().connection_made(transport)
        self._arm_header_timer()

    def on_message_begin(self):
        super().on_message_begin()
        self._arm_header_timer()

    def on_headers_complete(self):
        self._disarm_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc):
        self._disarm_header_timer()
        super().connection_lost(exc)


class RestServer:
    """The REST front end: an ASGI application served by uvicorn on its own thread.

    A connection is closed when its request header has not arrived `header_timeout_seconds`
    after it opened (or after the request's first byte), when it stays idle
    `idle_timeout_seconds` after a response (uvicorn's `timeout_keep_alive`), and when a body
    stops arriving for `BODY_TIMEOUT_SECONDS`."""

    def __init__(
        self,
        manager,
        metrics,
        host="127.0.0.1",
        port=8501,
        timeout_ms=30000,
        prometheus_path=None,
        max_body_bytes=DEFAULT_MAX_BODY_BYTES,
        num_threads=None,
        idle_timeout_seconds=IDLE_CONNECTION_SECONDS,
        header_timeout_seconds=HEADER_TIMEOUT_SECONDS,
        ui=None,
    ):
        self.manager = manager
        self.ui = ui  # `serving.ui.UiPages`, or None: no pages
        self.metrics = metrics
        self.host = host
        self.port = port
        self.timeout = timeout_ms / 1000.0 if timeout_ms and timeout_ms > 0 else None
        self._timeout_ms = int(timeout_ms) if self.timeout else None
        self.prometheus_path = prometheus_path
        self.max_body_bytes = max_body_bytes
        self.body_timeout = BODY_TIMEOUT_SECONDS
        self.idle_timeout_seconds = idle_timeout_seconds
        self.header_timeout_seconds = header_timeout_seconds
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=num_threads or max(8, 4 * (os.cpu_count() or 1)), thread_name_prefix="rest"
        )
        self._loop = None
        self._thread = None
        self._uvicorn = None

    # ----- ASGI entry point (event-loop thread) -------------------------------------
    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return
        method = scope["method"]
        if method == "HEAD":  # TF Serving answers no HEAD request
            await respond(send, 400, content_type=b"text/plain")
            return
        # The undecoded path, as TF Serving matches it: %2F inside a model name stays in the name.
        path = scope.get("raw_path") or scope["path"].encode("utf-8")
        path = path.decode("latin-1")
        timer = Timer()
        model_name, api = "", "unknown"
        try:
            prometheus = self.prometheus_path
            if prometheus and path == prometheus and method == "GET":
                await respond(send, 200, self.metrics.render(), PROMETHEUS_TYPE)
                return
            if not path.lower().startswith("/v1/"):
                if self.ui is not None and self.ui.handles(path):
                    await self.ui.respond(method, path, send)
                    return
                raise ServingError(grpc.StatusCode.NOT_FOUND, f"Not found: {method} {path[:200]}")
            match = PREDICT_PATH.fullmatch(path) if method == "POST" else None
            if match:
                model_name, version, label, api = match.groups()
                model_name, label, api = _name(model_name), _name(label), api.lower()
                body = await self._read_body(scope, receive)
                text = await self.predict_like(api, model_name, _version(version), label, body)
            else:
                match = STATUS_PATH.fullmatch(path) if method == "GET" else None
                if not match:
                    raise invalid_argument(f"Malformed request: {method} {path[:200]}")
                model_name, version, label, metadata = match.groups()
                if not model_name:
                    raise invalid_argument("Missing model name in request.")
                model_name, label = _name(model_name), _name(label)
                api = "metadata" if metadata else "status"
                text = self.status_or_metadata(model_name, _version(version), label, bool(metadata))
            await respond(send, 200, text)
            self.metrics.record_request(self.manager.metrics_label(model_name), api, "REST", "OK", timer.elapsed())
        except _TooLarge as error:
            await respond_error(
                send,
                ServingError(
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"Request body is larger than the limit of {self.max_body_bytes} bytes",
                ),
                status=413,
                close=error.close,
            )
        except _Disconnected:
            pass
        except _BodyTimeout:
            await respond_error(
                send,
                ServingError(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    f"The request body did not arrive within {BODY_TIMEOUT_SECONDS} s",
                ),
                status=408,
                close=True,
            )
        except ServingError as error:
            await respond_error(send, error)
            self.metrics.record_request(
                self.manager.metrics_label(model_name), api, "REST", error.code_name, timer.elapsed()
            )
        except TimeoutError:
            await respond_error(send, ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded"))
        except Exception as error:  # noqa: BLE001 - a bug must not take the server down
            log.exception("Unexpected error on %s %s", method, path)
            await respond_error(send, ServingError(grpc.StatusCode.INTERNAL, f"Internal error: {error}"))

    # ----- request logic (event-loop thread) -------------------------------------
    async def _read_body(self, scope, receive):
        try:
            async with asyncio.timeout(self.body_timeout):
                return await read_body(scope, receive, self.max_body_bytes)
        except TimeoutError:
            raise _BodyTimeout() from None

    async def predict_like(self, api, model_name, version, label, body):
        with self.manager.acquire(model_name, version, label) as entry:
            if api == "predict":
                return await self._predict(entry, body)
            signature_name, examples = json_codec.parse_examples(body)
            function = inference.classify if api == "classify" else inference.regress
            _, result = await self._result(self.executor.submit(function, entry, signature_name, examples))
            formatted = json_codec.format_classify(result) if api == "classify" else json_codec.format_regress(result)
            return json_codec.dumps(formatted)

    async def _predict(self, entry, body):
        """Parses the body against its signature (looked up once, `inference.find_signature`) and runs
        it on the executor or the batch scheduler, never on the event-loop thread: a long run there
        would hold up every other client's request, status and metadata included."""
        found = []

        def input_infos(signature_name):
            found.append(inference.find_signature(entry, signature_name, rest=True))
            return dict(found[-1][1].inputs)

        _, inputs, fmt = json_codec.parse_predict(body, input_infos)
        outputs = await self._result(
            inference.submit_predict(entry, found[-1], inputs, self.executor, self._timeout_ms)
        )
        return json_codec.dumps(json_codec.format_predict(outputs, fmt))

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
        protocol = functools.partial(HeaderTimeoutProtocol, header_timeout=self.header_timeout_seconds)
        config = uvicorn.Config(
            self,
            host=self.host,
            port=self.port,
            http=protocol,
            interface="asgi3",
            lifespan="off",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_keep_alive=self.idle_timeout_seconds,
        )
        quiet = logging.getLogger("uvicorn.error")
        if quiet.level == logging.NOTSET:
            quiet.setLevel(logging.WARNING)
        sock = listening_socket(self.host, self.port, "--rest_api_port")
        self.port = sock.getsockname()[1]
        self._uvicorn = uvicorn.Server(config)

        def serve():
            self._loop = new_event_loop()
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(self._uvicorn.serve(sockets=[sock]))
            finally:
                self._loop.close()

        self._thread = threading.Thread(target=serve, name="rest-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._uvicorn.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"The REST server did not start on {self.host}:{self.port}")
            time.sleep(0.005)
        return self

    def stop(self):
        if self._uvicorn is None:
            return
        self._uvicorn.should_exit = True
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            self._uvicorn.force_exit = True
            self._thread.join(timeout=5)
            log.warning("REST server did not close cleanly")
        self._uvicorn = None
        self.executor.shutdown(wait=False, cancel_futures=True)


__all__ = ["RestServer"]
