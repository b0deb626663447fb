"""REST and gRPC Predict go through one path (`serving.inference`): one signature lookup and one input
check per request, the same answer."""

import numpy as np
import pytest

from serving.client import connect
from serving.servable import SavedModelServable


@pytest.fixture
def counted(monkeypatch):
    """How often the served version looked a signature up and checked a request's inputs."""
    calls = {"signature": 0, "check_inputs": 0}
    for name in calls:
        original = getattr(SavedModelServable, name)

        def counting(self, *args, _original=original, _name=name):
            calls[_name] += 1
            return _original(self, *args)

        monkeypatch.setattr(SavedModelServable, name, counting)
    return calls


@pytest.mark.parametrize("scheme", ["http", "grpc"])
def test_one_lookup_and_one_check_per_predict(tiny_keras_running, counted, scheme):
    server, model = tiny_keras_running
    port = server.rest_api_port if scheme == "http" else server.grpc_port
    client = connect(f"{scheme}://127.0.0.1:{port}")
    features = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    try:
        outputs = client.predict("tiny", {"features": features})
        texts = client.predict("tiny", {"text": np.array([b"ab", "\u00e9".encode()], object)}, "serve_text")
    finally:
        client.close()
    assert counted == {"signature": 2, "check_inputs": 2}
    np.testing.assert_allclose(outputs["scores"], np.asarray(model(features)), rtol=1e-5, atol=1e-6)
    assert texts["upper_bytes"].tolist() == [b"AB", "\u00e9".encode()]
