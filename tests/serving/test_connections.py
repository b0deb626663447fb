"""Connections that send nothing, half a request header, or stay idle are closed (REST and gRPC)."""

import socket
import time

import pytest

from serving.grpc_service import parse_channel_arguments, server_options
from tests.serving.serving_helpers import HALF_PLUS_TWO, copy_model, start_server

TIMEOUT = 0.4


@pytest.fixture(scope="module")
def short_timeouts(testdata, tmp_path_factory):
    from serving.model_config import ModelEntry

    base = copy_model(HALF_PLUS_TWO, tmp_path_factory.mktemp("conn") / "m")
    srv = start_server(
        [ModelEntry("m", str(base))],
        enable_warmup=False,
        idle_connection_timeout_seconds=TIMEOUT,
        request_header_timeout_seconds=TIMEOUT,
    )
    yield srv
    srv.stop()


def closed_after(port, pieces=(), pause=0.1, limit=10.0):
    """Seconds until the server closes a connection that sends `pieces`, `pause` apart."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=limit) as sock:
        try:
            for piece in pieces:
                sock.sendall(piece)
                time.sleep(pause)
            while sock.recv(65536):
                pass
        except (BrokenPipeError, ConnectionResetError):
            pass  # closed while the client was still sending
    return time.monotonic() - started


def test_rest_connection_that_sends_nothing_is_closed(short_timeouts):
    assert closed_after(short_timeouts.rest_api_port) < TIMEOUT + 2


def test_rest_half_header_sent_slowly_is_closed(short_timeouts):
    header = b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-"
    pieces = [header[index : index + 4] for index in range(0, len(header), 4)]  # 14 pieces over 1.4 s
    assert closed_after(short_timeouts.rest_api_port, pieces) < TIMEOUT + 0.5


def test_rest_idle_keep_alive_connection_is_closed(short_timeouts):
    request = b'POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{"instances": [1.0]}'
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", short_timeouts.rest_api_port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and b'"predictions"' in answer
    assert time.monotonic() - started < TIMEOUT + 2


def test_rest_slow_but_complete_request_is_answered(short_timeouts):
    from tests.serving.serving_helpers import Http

    client = Http(short_timeouts.rest_api_port)
    assert client("POST", "/v1/models/m:predict", {"instances": [1.0]}) == (200, {"predictions": [2.5]})
    time.sleep(TIMEOUT / 2)
    assert client("POST", "/v1/models/m:predict", {"instances": [2.0]}) == (200, {"predictions": [3.0]})
    client.close()


@pytest.mark.parametrize("pieces", [(), (b"PRI * HTTP/2.0\r\n",)])
def test_grpc_connection_without_a_preface_is_closed(short_timeouts, pieces):
    assert closed_after(short_timeouts.grpc_port, pieces) < TIMEOUT + 3


def test_grpc_idle_channel_is_closed(short_timeouts):
    import grpc

    with grpc.insecure_channel(f"127.0.0.1:{short_timeouts.grpc_port}") as channel:
        grpc.channel_ready_future(channel).result(timeout=10)
        states = []
        channel.subscribe(states.append)
        deadline = time.monotonic() + TIMEOUT + 3
        while grpc.ChannelConnectivity.IDLE not in states[1:] and time.monotonic() < deadline:
            time.sleep(0.05)
        assert grpc.ChannelConnectivity.IDLE in states[1:], states


def test_channel_arguments_override_the_defaults():
    assert parse_channel_arguments(" grpc.max_connection_idle_ms=5000, grpc.primary_user_agent=x ") == [
        ("grpc.max_connection_idle_ms", 5000),
        ("grpc.primary_user_agent", "x"),
    ]
    options = dict(server_options(1 << 20, 300, 30, parse_channel_arguments("grpc.max_connection_idle_ms=5")))
    assert options["grpc.max_connection_idle_ms"] == 5 and options["grpc.max_receive_message_length"] == 1 << 20
    with pytest.raises(ValueError, match="key=value"):
        parse_channel_arguments("grpc.max_connection_idle_ms")


@pytest.mark.parametrize("flag", ["--rest_api_port", "--port"])
def test_a_busy_port_stops_the_server_with_one_line_naming_the_flag(testdata, monkeypatch, flag):
    from serving import server

    monkeypatch.setattr(server.signal, "signal", lambda *args: None)  # main's handlers stay out of pytest
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = ["--port", "0", "--rest_api_port", str(port)] if flag == "--rest_api_port" else ["--port", str(port)]
        with pytest.raises(SystemExit) as stopped:
            server.main(
                ["--model_name", "m", "--model_base_path", str(HALF_PLUS_TWO), "--release_memory", "false", *ports]
            )
    message = str(stopped.value)
    assert message.startswith(f"kapps serve: cannot listen on 127.0.0.1:{port} (") and "\n" not in message
    assert message.endswith(f"choose another port with {flag}")
