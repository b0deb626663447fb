"""Helpers shared by the serving tests (models, servers, an HTTP client)."""

import http.client
import json
import shutil
from pathlib import Path

import numpy as np

TESTDATA = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "tfserving_testdata"
HALF_PLUS_TWO = TESTDATA / "saved_model_half_plus_two_cpu"
HALF_PLUS_THREE = TESTDATA / "saved_model_half_plus_three"


def copy_model(source, destination, version=None):
    """Copies a TF Serving test model (its version folders, or one renamed to `version`)."""
    destination = Path(destination)
    destination.mkdir(parents=True, exist_ok=True)
    for child in Path(source).iterdir():
        if child.is_dir() and child.name.isdigit():
            shutil.copytree(child, destination / (str(version) if version else child.name))
    return destination


class Http:
    """A keep-alive HTTP/1.1 client returning (status, parsed JSON or text)."""

    def __init__(self, port):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def __call__(self, method, path, body=None, raw=None, headers=None):
        payload = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        for attempt in range(2):
            try:
                self.connection.request(method, path, payload, headers or {})
                response = self.connection.getresponse()
                text = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        if response.getheader("Connection", "").lower() == "close":
            self.connection.close()
        content_type = response.getheader("Content-Type", "")
        if "json" in content_type:
            return response.status, json.loads(text)
        return response.status, text.decode("utf-8", "replace")

    def close(self):
        self.connection.close()


def start_server(models, **options):
    """A `ModelServer` on free 127.0.0.1 ports for `models` ([ModelEntry])."""
    from serving.model_config import build_config
    from serving.server import ModelServer

    options.setdefault("poll_wait_seconds", 0)
    return ModelServer(build_config(models), grpc_port=0, rest_api_port=0, **options).start()


def export_tiny_keras(path, seed=0):
    """Exports a tiny Keras model with two signatures (float rows, and raw strings) to `path`."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    archive = keras.export.ExportArchive()
    archive.track(model)

    @tf.function(input_signature=[tf.TensorSpec((None, 4), tf.float32, name="features")])
    def serving_default(features):
        scores = model(features)
        return {"scores": scores, "classes": tf.argmax(scores, axis=-1)}

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="text")])
    def serve_text(text):
        return {"length": tf.strings.length(text), "upper_bytes": tf.strings.upper(text)}

    archive.add_endpoint("serving_default", serving_default)
    archive.add_endpoint("serve_text", serve_text)
    archive.write_out(str(path), verbose=False)
    return model


def reference_scores(model, features):
    return np.asarray(model(np.asarray(features, np.float32)))
