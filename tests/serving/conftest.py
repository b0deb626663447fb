"""Fixtures: TF Serving's test models in a temporary base path, in-process servers, HTTP helpers."""

import os

import pytest

from tests.serving.serving_helpers import (  # noqa: F401
    HALF_PLUS_THREE,
    HALF_PLUS_TWO,
    TESTDATA,
    Http,
    copy_model,
    export_tiny_keras,
    start_server,
)

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def testdata():
    if not HALF_PLUS_TWO.exists():
        pytest.skip(f"{HALF_PLUS_TWO} is missing")
    return TESTDATA


@pytest.fixture(scope="session")
def model_base(testdata, tmp_path_factory):
    base = tmp_path_factory.mktemp("models")
    copy_model(HALF_PLUS_TWO, base / "half_plus_two")
    copy_model(HALF_PLUS_THREE, base / "half_plus_three")
    return base


@pytest.fixture(scope="session")
def server(model_base):
    from serving.model_config import ModelEntry

    srv = start_server(
        [
            ModelEntry("half_plus_two", str(model_base / "half_plus_two"), "latest:1", {"stable": 123}),
            ModelEntry("half_plus_three", str(model_base / "half_plus_three")),
        ],
        prometheus_path="/monitoring/prometheus/metrics",
        max_body_bytes=1 << 20,
    )
    yield srv
    srv.stop()


@pytest.fixture
def rest(server):
    client = Http(server.rest_api_port)
    yield client
    client.close()


@pytest.fixture(scope="session")
def tiny_keras_base(tmp_path_factory):
    base = tmp_path_factory.mktemp("keras_models")
    model = export_tiny_keras(base / "tiny" / "1")
    return base, model


@pytest.fixture(scope="session")
def tiny_keras_running(tiny_keras_base):
    from serving.model_config import ModelEntry

    base, model = tiny_keras_base
    srv = start_server([ModelEntry("tiny", str(base / "tiny"))])
    yield srv, model
    srv.stop()


@pytest.fixture
def tiny_keras_server(tiny_keras_running):
    client = Http(tiny_keras_running[0].rest_api_port)
    yield client
    client.close()
