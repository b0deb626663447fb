"""The REST API on TF Serving's own test models, answered as TF Serving answers."""

import base64
import json
import socket

import pytest


def test_predict_half_plus_two(rest):
    assert rest("POST", "/v1/models/half_plus_two:predict", {"instances": [1.0, 2.0, 5.0]}) == (
        200,
        {"predictions": [2.5, 3.0, 4.5]},
    )
    assert rest("POST", "/v1/models/half_plus_three:predict", {"instances": [1.0, 2.0, 5.0]}) == (
        200,
        {"predictions": [3.5, 4.0, 5.5]},
    )


def test_columnar_named_and_signature(rest):
    assert rest("POST", "/v1/models/half_plus_two:predict", {"inputs": {"x": [[1.0], [2.0]]}}) == (
        200,
        {"outputs": [[2.5], [3.0]]},
    )
    assert rest(
        "POST", "/v1/models/half_plus_two:predict", {"signature_name": "serving_default", "instances": [{"x": [1.0]}]}
    ) == (200, {"predictions": [[2.5]]})
    status, answer = rest(
        "POST", "/v1/models/half_plus_two:predict", {"signature_name": "regress_x2_to_y3", "inputs": [[1.0]]}
    )
    assert (status, answer) == (200, {"outputs": [[3.5]]})


def test_nan_infinity_round_trip(rest):
    status, text = rest("POST", "/v1/models/half_plus_two:predict", raw=b'{"instances": [NaN, Infinity, -Infinity]}')
    assert (
        status == 200
        and text == {"predictions": [float("nan"), float("inf"), float("-inf")]}
        or json.dumps(text) == '{"predictions": [NaN, Infinity, -Infinity]}'
    )


def test_status_and_metadata(rest):
    assert rest("GET", "/v1/models/half_plus_two") == (
        200,
        {
            "model_version_status": [
                {"version": "123", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
            ]
        },
    )
    assert rest("GET", "/v1/models/half_plus_two/versions/123")[0] == 200
    assert rest("GET", "/v1/models/half_plus_two/labels/stable")[0] == 200
    status, metadata = rest("GET", "/v1/models/half_plus_two/metadata")
    assert status == 200
    assert metadata["model_spec"] == {"name": "half_plus_two", "version": "123", "signature_name": ""}
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert metadata["metadata"]["signature_def"]["@type"].endswith("tensorflow.serving.SignatureDefMap")
    assert signatures["serving_default"]["inputs"]["x"]["dtype"] == "DT_FLOAT"
    assert signatures["classify_x_to_y"]["method_name"] == "tensorflow/serving/classify"


def test_classify_and_regress(rest):
    assert rest(
        "POST",
        "/v1/models/half_plus_two:regress",
        {"signature_name": "regress_x_to_y", "examples": [{"x": 1.0}, {"x": 2.0}]},
    ) == (200, {"result": [2.5, 3.0]})
    assert rest(
        "POST",
        "/v1/models/half_plus_two:classify",
        {"signature_name": "classify_x_to_y", "examples": [{"x": 1.0}, {"x": 5.0}]},
    ) == (200, {"result": [[["", 2.5]], [["", 4.5]]]})
    assert rest(
        "POST",
        "/v1/models/half_plus_three:regress",
        {"signature_name": "tensorflow/serving/regress", "examples": [{"x": 1.0}, {"x": 2.0}]},
    ) == (200, {"result": [3.5, 4.0]})
    status, answer = rest("POST", "/v1/models/half_plus_two:classify", {"examples": [{"x": 1.0}]})
    assert status == 400 and "classify" in answer["error"]


def test_versions_and_labels(rest):
    assert rest("POST", "/v1/models/half_plus_two/versions/123:predict", {"instances": [1.0]}) == (
        200,
        {"predictions": [2.5]},
    )
    assert rest("POST", "/v1/models/half_plus_two/labels/stable:predict", {"instances": [1.0]}) == (
        200,
        {"predictions": [2.5]},
    )
    assert rest("GET", "/v1/models/half_plus_two/versions/123/metadata")[0] == 200


@pytest.mark.parametrize(
    "method, path, body, code, fragment",
    [
        ("POST", "/v1/models/half:predict", {"instances": [1.0]}, 404, "Servable not found for request: Latest(half)"),
        ("POST", "/v1/models/half_plus_two/versions/7:predict", {"instances": [1.0]}, 404, "Specific"),
        ("POST", "/v1/models/half_plus_two/labels/canary:predict", {"instances": [1.0]}, 400, "label"),
        ("POST", "/v1/models/half_plus_two:predict", {"signature_name": "nope", "instances": [1]}, 400, "nope"),
        ("POST", "/v1/models/half_plus_two:predict", {"instances": ["a"]}, 400, "numbers"),
        ("POST", "/v1/models/half_plus_two:predict", {"instances": [[1.0], [1.0, 2.0]]}, 400, "ragged"),
        ("POST", "/v1/models/half_plus_two:predict", {"inputs": {"y": [1.0]}}, 400, "y"),
        ("POST", "/v1/models/half_plus_two:predict", {"instances": [1.0], "inputs": [1.0]}, 400, "both"),
        (
            "POST",
            "/v1/models/half_plus_two:regress",
            {"signature_name": "regress_x_to_y", "examples": [{"x": "a"}]},
            400,
            "",
        ),
        ("POST", "/v1/models/..%2F..%2Fetc:predict", {"instances": [1.0]}, 400, "Invalid model name"),
        ("POST", "/v1/models/%2E%2E:predict", {"instances": [1.0]}, 400, "Invalid model name"),
        ("GET", "/v1/models/half_plus_two/versions/99", None, 404, "version 99"),
        ("GET", "/v1/models/nothing", None, 404, "nothing"),
        ("GET", "/v1/models", None, 400, "Missing model name"),
        ("GET", "/v1/models/half_plus_two:predict", None, 400, "Malformed request"),
        ("PUT", "/v1/models/half_plus_two", {}, 400, "Malformed request"),
        ("GET", "/v2/anything", None, 404, "Not found"),
    ],
)
def test_errors(rest, method, path, body, code, fragment):
    status, answer = rest(method, path, body)
    assert status == code, answer
    assert fragment in answer["error"]


@pytest.mark.parametrize(
    "body, message",
    [
        (
            {"instances": [[1.0, 2.0, 3.0]]},
            "Input 'features' of signature 'serving_default' expects float32 [?, 4]; got float32 [1, 3].",
        ),
        (
            {"signature_name": "serve_text", "instances": [["a", "b"]]},
            "Input 'text' of signature 'serve_text' expects string [?]; got string [1, 2], 2 bytes.",
        ),
        (
            {"signature_name": "serve_text", "instances": [1]},
            "Input 'text': JSON values must be strings (or {\"b64\": ...} objects) for a string tensor (got 1)",
        ),
    ],
)
def test_bad_inputs_say_what_was_expected_and_what_arrived(tiny_keras_server, body, message):
    assert tiny_keras_server("POST", "/v1/models/tiny:predict", body) == (400, {"error": message})


def test_graph_errors_lose_their_node_names():
    from serving.errors import clean_tf_message

    assert clean_tf_message(
        "{{function_node __inference_serving_default_93}} Invalid reduction dimension (2 for input "
        "with 2 dimension(s)\n\t [[{{node Max}}]] [Op:__inference_signature_wrapper_97]"
    ) == ("Invalid reduction dimension (2 for input with 2 dimension(s)")
    assert (
        clean_tf_message(
            "assertion failed: [column \\'tenure\\' row] [3] [is not a finite number] [x (map/while/Sub:0) = ] "
            "[inf]\n\t [[{{node Assert}}]]"
        )
        == "column 'tenure' row 3 is not a finite number x = inf"
    )
    assert (
        clean_tf_message(
            "assertion failed: [image_bytes[0]: over the limit]\n\t [[{{function_node map_while_body_15}}"
            "{{node map/while/Assert_2/Assert}}]]"
        )
        == "image_bytes[0]: over the limit"
    )
    assert clean_tf_message(  # an eager call's error, as `kapps <app> predict` meets it in process
        "Graph execution error:\n\nDetected at node Assert/Assert defined at (most recent call last):\n"
        "<stack traces unavailable>\nassertion failed: [row 1, column MonthlyCharges: inf is not a finite "
        "number]\n\t [[{{node Assert/Assert}}]] [Op:__inference_signature_wrapper_1053]"
    ) == ("row 1, column MonthlyCharges: inf is not a finite number")


def test_invalid_json_and_base64(rest):
    status, answer = rest("POST", "/v1/models/half_plus_two:predict", raw=b'{"instances": [1.0')
    assert status == 400 and "JSON Parse error" in answer["error"]
    status, answer = rest(
        "POST",
        "/v1/models/half_plus_two:regress",
        {"signature_name": "regress_x_to_y", "examples": [{"x": {"b64": "@@@"}}]},
    )
    assert status == 400 and "base64" in answer["error"]


def test_body_over_the_limit(rest, server):
    big = b'{"instances": [' + b"1.0," * (server.max_body_bytes // 3) + b"1.0]}"
    status, answer = rest("POST", "/v1/models/half_plus_two:predict", raw=big)
    assert status == 413 and "limit" in answer["error"]
    assert rest("POST", "/v1/models/half_plus_two:predict", {"instances": [1.0]})[0] == 200


def exchange_until_closed(port, request):
    """(head, body) of the answer to raw `request` bytes, read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return head, body


def test_body_too_large_to_drain_is_refused_unread(rest, server):
    declared = 5 * server.max_body_bytes
    head, body = exchange_until_closed(
        server.rest_api_port,
        (f"POST /v1/models/half_plus_two:predict HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\n").encode(),
    )  # the body is never sent
    assert head.startswith(b"HTTP/1.1 413") and b"connection: close" in head.lower()
    assert "limit" in json.loads(body)["error"]
    assert rest("POST", "/v1/models/half_plus_two:predict", {"instances": [1.0]})[0] == 200


def test_body_that_never_arrives_times_out(server, monkeypatch):
    monkeypatch.setattr(server.rest, "body_timeout", 0.2)
    head, body = exchange_until_closed(
        server.rest_api_port,
        (b"POST /v1/models/half_plus_two:predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"),
    )
    assert head.startswith(b"HTTP/1.1 408") and "did not arrive" in json.loads(body)["error"]


def test_head_is_a_bad_request(rest):
    assert rest("HEAD", "/v1/models/half_plus_two")[0] == 400


def test_prometheus_metrics(rest):
    rest("POST", "/v1/models/half_plus_two:predict", {"instances": [1.0]})
    status, text = rest("GET", "/monitoring/prometheus/metrics")
    assert status == 200
    assert ':tensorflow:serving:request_count{model_name="half_plus_two",status="OK"}' in text
    assert ":tensorflow:serving:request_latency_bucket" in text
    assert ":tensorflow:cc:saved_model:load_attempt_count" in text


def test_b64_string_outputs_use_bytes_suffix(tiny_keras_server):
    rest = tiny_keras_server
    encoded = base64.b64encode(b"abc\xff").decode()
    status, answer = rest(
        "POST", "/v1/models/tiny:predict", {"signature_name": "serve_text", "instances": [{"b64": encoded}, "hé"]}
    )
    assert status == 200
    assert answer["predictions"][0] == {"length": 4, "upper_bytes": {"b64": base64.b64encode(b"ABC\xff").decode()}}
    assert answer["predictions"][1]["length"] == 3  # bytes, as tf.strings.length counts


def test_lone_and_concurrent_clients_get_the_same_answers(tiny_keras_running):
    """A lone client and concurrent ones (all answered on the executor) get the model's answers."""
    import concurrent.futures

    import numpy as np

    from tests.serving.serving_helpers import Http

    server, model = tiny_keras_running
    rows = np.random.default_rng(0).random((16,) + tuple(model.input_shape[1:])).astype("float32")
    expected = np.asarray(model.predict(rows, verbose=0))

    def ask(index):
        client = Http(server.rest_api_port)
        try:
            status, answer = client("POST", "/v1/models/tiny:predict", {"instances": rows[index : index + 1].tolist()})
        finally:
            client.close()
        assert status == 200
        return np.asarray(answer["predictions"][0]["scores"], dtype="float32")

    lone = [ask(index) for index in range(4)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        concurrent_answers = list(pool.map(ask, range(16)))
    np.testing.assert_allclose(np.stack(lone), expected[:4], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.stack(concurrent_answers), expected, rtol=1e-5, atol=1e-6)


def test_servable_run_with_a_deadline(tiny_keras_base):
    import numpy as np

    from serving.servable import SavedModelServable

    base, model = tiny_keras_base
    servable = SavedModelServable("tiny", 1, base / "tiny" / "1")
    try:
        rows = {"features": np.ones((2, 4), "float32")}
        plain = servable.run("serving_default", rows)
        timed = servable.run("serving_default", rows, timeout_ms=30_000)
        np.testing.assert_array_equal(plain["scores"], timed["scores"])
        assert len(servable._callables) == 2  # one callable per deadline
    finally:
        servable.close()


@pytest.mark.parametrize(
    "body, fragment",
    [
        ('{"signature_name": "serve_text", "instances": ["ok", "\\ud800"]}', "Input 'text': string \"\\ud800\""),
        ('{"signature_name": "serve_text", "inputs": {"text": ["a\\udfff"]}}', "Input 'text': string \"a\\udfff\""),
        ('{"signature_name": "\\ud800", "instances": ["a"]}', '"\\ud800" not found'),
        (
            '{"signature_name": "serve_text", "inputs": {"\\ud800": ["a"]}}',
            "Input '\\ud800' is not in the signature's inputs",
        ),
    ],
)
def test_lone_surrogates_are_a_bad_request_naming_the_input(tiny_keras_server, body, fragment):
    status, answer = tiny_keras_server("POST", "/v1/models/tiny:predict", raw=body.encode())
    assert status == 400 and fragment in answer["error"], answer


@pytest.mark.parametrize(
    "examples, fragment",
    [
        ('[{"x": "\\ud800"}]', "Feature 'x': string \"\\ud800\" is not valid Unicode"),
        ('[{"\\udc00": 1.0}]', 'Feature name: string "\\udc00" is not valid Unicode'),
    ],
)
def test_lone_surrogates_in_examples_are_a_bad_request(rest, examples, fragment):
    status, answer = rest(
        "POST",
        "/v1/models/half_plus_two:regress",
        raw=f'{{"signature_name": "regress_x_to_y", "examples": {examples}}}'.encode(),
    )
    assert status == 400 and fragment in answer["error"], answer
