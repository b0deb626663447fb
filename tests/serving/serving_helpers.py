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


RAW_MAX_PIXELS = 1 << 22
RAW_MAX_TEXT_BYTES = 1 << 16
RAW_COLUMNS = {"tenure": "float32", "MonthlyCharges": "float32", "Contract": "string"}


def raw_input_module():
    """A tf.Module whose signatures take raw inputs as the apps' do: encoded images (a
    pixel limit read from a PNG header before decoding), review texts (bounded per text)
    and CSV-row-like columns (non-finite numbers refused)."""
    import tensorflow as tf

    def png_pixels(encoded):
        header = tf.io.decode_raw(tf.strings.substr(encoded + b"\0" * 24, 16, 8), tf.uint8)
        sides = tf.reshape(tf.cast(header, tf.int64), [2, 4])
        sides = tf.reduce_sum(sides * tf.constant([1 << 24, 1 << 16, 1 << 8, 1], tf.int64), axis=1)
        is_png = tf.strings.substr(encoded, 0, 8) == b"\x89PNG\r\n\x1a\n"
        return tf.where(is_png, sides[0] * sides[1], tf.constant(0, tf.int64))

    def image_feature(encoded):
        check = tf.debugging.assert_less_equal(
            png_pixels(encoded),
            tf.constant(RAW_MAX_PIXELS, tf.int64),
            message=f"image_bytes: the image's header claims more than {RAW_MAX_PIXELS} pixels",
        )
        with tf.control_dependencies([check]):  # otherwise decoding may run (and fail) first
            image = tf.io.decode_image(encoded, channels=1, expand_animations=False)
        image = tf.image.resize(tf.image.convert_image_dtype(image, tf.float32), [8, 8])
        return tf.reduce_mean(image)

    class RawInputs(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
        def serve_image_bytes(self, image_bytes):
            return {"brightness": tf.map_fn(image_feature, image_bytes, fn_output_signature=tf.float32)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve_text(self, text):
            words = tf.strings.split(tf.strings.lower(tf.strings.substr(text, 0, RAW_MAX_TEXT_BYTES)))
            ids = tf.strings.to_hash_bucket_fast(words, 97)
            score = tf.math.divide_no_nan(
                tf.cast(tf.reduce_sum(ids, axis=1), tf.float32), tf.cast(ids.row_lengths(), tf.float32)
            )
            return {"probability": tf.sigmoid(score / 48.0 - 1.0), "words": ids.row_lengths()}

        @tf.function(
            input_signature=[{name: tf.TensorSpec([None], dtype, name=name) for name, dtype in RAW_COLUMNS.items()}]
        )
        def serve_rows(self, rows):
            for name in ("tenure", "MonthlyCharges"):
                tf.debugging.Assert(
                    tf.reduce_all(tf.math.is_finite(rows[name])), [f"column '{name}' must hold finite numbers"]
                )
            contract = tf.cast(tf.strings.to_hash_bucket_fast(rows["Contract"], 3), tf.float32)
            logit = 0.05 * rows["tenure"] - 0.01 * rows["MonthlyCharges"] + contract
            return {"churn_probability": tf.sigmoid(logit)}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        def serve_examples(self, examples):
            features = tf.io.parse_example(examples, {"x": tf.io.FixedLenFeature([], tf.float32)})
            return {"doubled": 2.0 * features["x"]}

    return RawInputs()


def export_raw_input_model(path):
    """Saves `raw_input_module()` as a SavedModel version folder; returns the module."""
    import tensorflow as tf

    module = raw_input_module()
    tf.saved_model.save(
        module,
        str(path),
        signatures={
            "serve_image_bytes": module.serve_image_bytes,
            "serve_text": module.serve_text,
            "serve_rows": module.serve_rows,
            "serve_examples": module.serve_examples,
        },
    )
    return module


RULES_MAX_ROWS = 50
RULES_MAX_TOTAL = 100
RULES = {
    "serve_chars": {"padded_outputs": {"chars": ""}},
    "serve_checked": {"max_rows": {"x": RULES_MAX_ROWS}},
    "serve_count": {"max_sum": {"count": RULES_MAX_TOTAL}},
    "serve_spin": {},
}


def rules_module():
    """A tf.Module whose signatures need the rules of `serving.request_rules` (`RULES`): an
    output padded to the request's longest text, row errors that name the row, work that is
    the sum of the inputs, and a long spin."""
    import tensorflow as tf

    class Rules(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve_chars(self, text):
            chars = tf.strings.bytes_split(text)
            return {"chars": chars.to_tensor(default_value=""), "length": chars.row_lengths()}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.float32, name="x")])
        def serve_checked(self, x):
            bad = tf.where(~tf.math.is_finite(x))[:, 0]
            first = tf.strings.as_string(tf.reduce_min(tf.concat([bad, [-1]], 0)[:1]))
            check = tf.debugging.Assert(tf.size(bad) == 0, [tf.strings.join(["row ", first, ": not finite"])])
            with tf.control_dependencies([check]):
                return {"y": 2.0 * x}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int32, name="count")])
        def serve_count(self, count):
            return {
                "total": tf.map_fn(
                    lambda c: tf.reduce_sum(tf.ones([tf.maximum(c, 0)])), count, fn_output_signature=tf.float32
                )
            }

        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="n")])
        def serve_spin(self, n):
            def spin(count):
                return tf.while_loop(
                    lambda i, v: i < count,
                    lambda i, v: (i + 1, tf.sin(v) + 1.0),
                    (tf.constant(0, tf.int64), tf.constant(0.5)),
                )[1]

            return {"value": tf.map_fn(spin, n, fn_output_signature=tf.float32)}

    return Rules()


def export_rules_model(path):
    """Saves `rules_module()` with its `RULES` as a SavedModel version folder; returns the module."""
    import tensorflow as tf

    from serving.request_rules import write_rules

    module = rules_module()
    tf.saved_model.save(module, str(path), signatures={name: getattr(module, name) for name in RULES})
    write_rules(path, RULES)
    return module
