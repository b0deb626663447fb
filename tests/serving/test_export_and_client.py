"""Export (layout, atomic rename, warm-up records), serving the export, the client and CLI."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from apps.core.app import App, SampleRequest
from serving.export import VERSIONS_FILE, existing_versions, export_model
from serving.model_config import ModelEntry
from serving.warmup import read_warmup_logs, warmup_path
from tests.serving.serving_helpers import Http, start_server

REPO = Path(__file__).resolve().parents[2]


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TinyApp(App):
    """A minimal app: 4 numbers in, 3 class scores out; one raw-text signature."""

    name = "tiny"

    def load_tfds(self, name, config): ...
    def load_files(self, path, config): ...
    def load_builtin(self, config): ...
    def evaluate(self, model, data, config, run): ...

    def build_model(self, config=None, data=None):
        import keras

        keras.utils.set_random_seed(1)
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])

    def decode_predictions(self, predictions, model):
        import keras

        return {"scores": predictions, "classes": keras.ops.argmax(predictions, axis=-1)}

    def serving_signatures(self, model, config):
        import tensorflow as tf

        @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32, name="features")])
        def serving_default(features):
            return self.decode_predictions(model(features, training=False), model)

        @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="rows")])
        def serve_csv(rows):
            values = tf.strings.to_number(tf.strings.split(rows, ",").to_tensor("0"), tf.float32)
            return serving_default(values)

        return {"serving_default": serving_default, "serve_csv": serve_csv}

    def sample_requests(self, config):
        return [
            SampleRequest("serving_default", {"features": np.ones((2, 4), np.float32)}),
            SampleRequest("serve_csv", {"rows": np.array([b"1,2,3,4"], dtype=object)}),
        ]

    def request_from_cli(self, items):
        return SampleRequest("serve_csv", {"rows": np.array([i.encode() for i in items], dtype=object)})

    def format_response(self, outputs, items):
        return "\n".join(
            f"{item}: class {int(c)} ({float(np.max(s)):.3f})"
            for item, c, s in zip(items, outputs["classes"], outputs["scores"])
        )


def export_tiny(app, model, base, version=None):
    """The exporter takes parts, not an app: the model, its signatures, the warm-up requests, the rules."""
    return export_model(
        model,
        app.serving_signatures(model, None),
        base / app.name,
        version,
        warmup_requests=app.sample_requests(None),
        request_rules=app.serving_rules(None),
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    app = TinyApp()
    model = app.build_model()
    base = tmp_path_factory.mktemp("export")
    first = export_tiny(app, model, base)
    second = export_tiny(app, model, base)
    return app, model, base, first, second


def test_versioned_layout_and_warmup(exported):
    app, _, base, first, second = exported
    assert (first.name, second.name) == ("1", "2")
    assert existing_versions(base / "tiny") == [1, 2]
    assert sorted(p.name for p in (base / "tiny").iterdir()) == ["1", "2"]  # no staging left
    assert json.loads((base / VERSIONS_FILE).read_text()) == {"tiny": 2}
    assert (second / "saved_model.pb").exists() and warmup_path(second).exists()
    logs = read_warmup_logs(second)
    assert [log.predict_log.request.model_spec.signature_name for log in logs] == ["serving_default", "serve_csv"]
    assert logs[0].predict_log.request.model_spec.name == "tiny"
    with pytest.raises(FileExistsError):
        export_tiny(app, app.build_model(), base, version=2)


@pytest.fixture(scope="module")
def tiny_server(exported):
    _, _, base, _, _ = exported
    srv = start_server([ModelEntry("tiny", str(base / "tiny"))])
    yield srv
    srv.stop()


def test_served_export_matches_the_model(exported, tiny_server):
    _, model, _, _, _ = exported
    rest = Http(tiny_server.rest_api_port)
    features = [[0.5, -1.0, 2.0, 0.0]]
    status, answer = rest("POST", "/v1/models/tiny:predict", {"instances": features})
    assert status == 200
    np.testing.assert_allclose(
        answer["predictions"][0]["scores"], np.asarray(model(np.array(features, np.float32)))[0], rtol=1e-5
    )
    status, answer = rest(
        "POST", "/v1/models/tiny:predict", {"signature_name": "serve_csv", "inputs": {"rows": ["0.5,-1,2,0"]}}
    )
    assert status == 200 and answer["outputs"]["classes"] == [
        int(np.argmax(np.asarray(model(np.array(features, np.float32)))[0]))
    ]
    rest.close()


@pytest.mark.parametrize("scheme", ["http", "grpc"])
def test_predict_with_server(exported, tiny_server, scheme, tmp_path):
    from apps.core import workflow

    app = exported[0]
    port = tiny_server.rest_api_port if scheme == "http" else tiny_server.grpc_port
    text = workflow.predict(
        app, ["1,2,3,4", "0,0,0,1"], tmp_path / "no-local-models", server=f"{scheme}://127.0.0.1:{port}"
    )
    assert text.startswith("1,2,3,4: class ") and "0,0,0,1: class" in text


def test_client_errors_are_readable(exported, tiny_server):
    from apps.core import workflow
    from serving.client import connect

    client = connect(f"http://127.0.0.1:{tiny_server.rest_api_port}")
    assert client.status("tiny")["model_version_status"][0]["version"] == "2"
    client.close()

    class Other(TinyApp):
        name = "missing"

    with pytest.raises(SystemExit, match="Servable not found"):
        workflow.predict(Other(), ["1,2,3,4"], server=f"http://127.0.0.1:{tiny_server.rest_api_port}")
    with pytest.raises(ValueError):
        connect("ftp://x")


def test_kapps_serve_cli(testdata, tmp_path):
    """`kapps serve` as a process: starts on 127.0.0.1, answers REST, stops on SIGTERM."""
    from tests.serving.serving_helpers import HALF_PLUS_TWO, copy_model

    copy_model(HALF_PLUS_TWO, tmp_path / "half_plus_two")
    rest_port = free_port()  # (--rest_api_port=0 turns REST off, as in TF Serving)
    command = [
        sys.executable,
        "-m",
        "kapps",
        "serve",
        "--port",
        "0",
        "--rest_api_port",
        str(rest_port),
        "--model_name",
        "half_plus_two",
        "--model_base_path",
        str(tmp_path / "half_plus_two"),
        "--file_system_poll_wait_seconds",
        "0",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port, deadline = None, time.monotonic() + 120
        while port is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("Exporting HTTP/REST API at:"):
                address = line.split("at:", 1)[1].split()[0]
                assert address.startswith("127.0.0.1:")
                port = int(address.rsplit(":", 1)[1])
        assert port == rest_port, "the server did not start"
        rest = Http(port)
        assert rest("POST", "/v1/models/half_plus_two:predict", {"instances": [1.0, 2.0, 5.0]}) == (
            200,
            {"predictions": [2.5, 3.0, 4.5]},
        )
        assert rest("GET", "/ui/api/models") == (200, {"models": ["half_plus_two"]})  # the pages are on by default
        rest.close()
    finally:
        process.terminate()
        assert process.wait(30) == 0
