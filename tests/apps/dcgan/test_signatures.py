"""The serving signatures: the same images for the same seed, PNG grids, bad inputs refused."""

import numpy as np
import pytest
import tensorflow as tf

from apps.dcgan.app import DcganApp
from apps.dcgan.signatures import make_signatures
from tests.apps.dcgan.conftest import tiny_config
from tests.apps.dcgan.test_model import _gan

MAX_IMAGES = 10


@pytest.fixture(scope="module")
def conditional_signatures():
    model = _gan(tiny_config(conditional=True))
    return make_signatures(model, DcganApp().decode_predictions, MAX_IMAGES)


@pytest.fixture(scope="module")
def signatures():
    model = _gan(tiny_config())
    return make_signatures(model, DcganApp().decode_predictions, MAX_IMAGES)


def _seed_request(signatures, seed, count, label=-1):
    rows = len(seed)
    return signatures["serve_seed"](
        seed=tf.constant(seed, tf.int64),
        count=tf.constant([count] * rows, tf.int32),
        label=tf.constant([label] * rows, tf.int64),
    )


def test_the_same_seed_gives_the_same_images_and_a_png_grid_of_them(signatures):
    first = _seed_request(signatures, [1, 2], 5)
    again = _seed_request(signatures, [1], 5)
    assert first["images"].dtype == tf.uint8 and tuple(first["images"].shape) == (2, 5, 28, 28, 1)
    np.testing.assert_array_equal(first["images"][0], again["images"][0])
    assert not np.array_equal(first["images"][0], first["images"][1])
    grid = tf.io.decode_png(first["images_png_bytes"][0]).numpy()
    assert grid.shape == (2 * 30, 3 * 30, 1)  # 5 images: 3 columns, 2 rows of 28 + 2 pixel cells
    np.testing.assert_array_equal(grid[1:29, 31:59, 0], first["images"][0, 1, :, :, 0].numpy())


def test_serving_default_decodes_latents_to_uint8_images(signatures):
    latent = tf.constant(np.random.default_rng(0).standard_normal((3, 16)), tf.float32)
    images = signatures["serving_default"](latent=latent)["images"]
    assert images.dtype == tf.uint8 and tuple(images.shape) == (3, 28, 28, 1)


def test_a_conditional_generator_takes_labels(conditional_signatures):
    latent = tf.zeros((2, 16), tf.float32)
    images = conditional_signatures["serving_default"](latent=latent, labels=tf.constant([0, 9], tf.int64))["images"]
    assert not np.array_equal(images[0], images[1])  # same noise, another class
    assert tuple(_seed_request(conditional_signatures, [3], 4, label=7)["images"].shape) == (1, 4, 28, 28, 1)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s: _seed_request(s, [1], 0), "count: must be from 1 to 10 images, got 0"),
        (lambda s: _seed_request(s, [1], 11), "count: must be from 1 to 10 images, got 11"),
        (lambda s: _seed_request(s, [1, 2, 3], 4), "count: 12 images in all is over the limit of 10"),
        (lambda s: _seed_request(s, [1], 2, label=3), "this generator is not class-conditional"),
        (lambda s: s["serving_default"](latent=tf.zeros((11, 16))), "11 rows is over the limit of 10"),
    ],
)
def test_bad_inputs_are_refused_with_a_message(signatures, call, message):
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call(signatures)


def test_unknown_labels_are_refused(conditional_signatures):
    with pytest.raises(tf.errors.InvalidArgumentError, match="labels: unknown label; the classes are 0 to 9, got 10"):
        conditional_signatures["serving_default"](latent=tf.zeros((1, 16)), labels=tf.constant([10], tf.int64))
    with pytest.raises(tf.errors.InvalidArgumentError, match="label: unknown label"):
        _seed_request(conditional_signatures, [1], 2, label=-5)


def test_cli_items_become_a_serve_seed_request(app):
    request = app.request_from_cli(["seed=3", "count=4", "label=7"])
    assert request.signature_name == "serve_seed"
    assert {name: value.tolist() for name, value in request.inputs.items()} == {"seed": [3], "count": [4], "label": [7]}
    from apps.core.errors import InputError

    with pytest.raises(InputError, match="takes seed=N, count=N and label=N"):
        app.request_from_cli(["picture.png"])


def test_the_server_runtime_answers_bad_requests_with_400(app, tmp_path):
    """The session runtime behind `kapps serve`'s REST and gRPC APIs, on an exported generator."""
    from apps.core.workflow import export_app_model
    from serving.errors import ServingError
    from serving.servable import SavedModelServable

    config = tiny_config()
    exported = export_app_model(app, _gan(config), config, tmp_path)
    servable = SavedModelServable("dcgan", 1, exported)
    bad_requests = [
        ("serving_default", {"latent": np.zeros((1, 5), np.float32)}, "latent"),
        (
            "serve_seed",
            {"seed": np.array([1]), "count": np.array([0], np.int32), "label": np.array([-1])},
            "count: must be from 1 to 64 images, got 0",
        ),
    ]
    try:
        good = servable.run("serve_seed", app.request_from_cli(["seed=1", "count=2"]).inputs)
        assert good["images"].shape == (1, 2, 28, 28, 1) and good["images_png_bytes"][0].startswith(b"\x89PNG")
        for signature, inputs, message in bad_requests:
            with pytest.raises(ServingError) as error:
                servable.run(signature, inputs)
            assert error.value.http_status == 400 and message in error.value.message, error.value.message
    finally:
        servable.close()


def test_the_server_checks_the_image_limit_on_the_whole_request(app, tmp_path):
    """The export carries the limit; `kapps serve` checks it before it splits a request into
    chunks of rows (the graph would only see a chunk)."""
    from apps.core.workflow import export_app_model
    from serving.model_config import ModelEntry
    from tests.serving.serving_helpers import Http, start_server

    config = tiny_config()
    export_app_model(app, _gan(config), config, tmp_path)
    server = start_server([ModelEntry("dcgan", str(tmp_path / "dcgan"))], request_chunk_rows=16, enable_warmup=False)
    client = Http(server.rest_api_port)
    limit = config.max_images
    try:
        status, body = client(
            "POST", "/v1/models/dcgan:predict", {"instances": [{"latent": [0.0] * config.latent_dim}] * (limit + 1)}
        )
        assert status == 400 and f"{limit + 1} rows is over the limit of {limit}" in body["error"], body
        status, body = client(
            "POST",
            "/v1/models/dcgan:predict",
            {
                "signature_name": "serve_seed",
                "inputs": {"seed": [1, 2], "count": [limit // 2 + 1] * 2, "label": [-1, -1]},
            },
        )
        assert status == 400 and f"over the limit of {limit}" in body["error"], body
        status, body = client(
            "POST", "/v1/models/dcgan:predict", {"instances": [{"latent": [0.0] * config.latent_dim}] * limit}
        )
        assert status == 200 and len(body["predictions"]) == limit
    finally:
        client.close()
        server.stop()


def test_the_cli_turns_predict_flags_into_items(monkeypatch, capsys):
    from apps import cli
    from apps.core import workflow

    calls = []
    monkeypatch.setattr(workflow, "predict", lambda app, items, *args: calls.append(items) or "answered")
    assert cli.main(["dcgan", "predict", "--count", "16", "--seed", "1", "--label", "7"]) == 0
    assert sorted(calls[0]) == ["count=16", "label=7", "seed=1"] and "answered" in capsys.readouterr().out
