"""TF Serving's JSON mapping: requests to arrays and arrays to responses."""

import base64
import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tensorflow.core.framework import tensor_pb2, types_pb2  # noqa: F401
from tensorflow.core.protobuf import meta_graph_pb2

from serving import json_codec
from serving.errors import ServingError


def info(dtype, shape=None):
    tensor_info = meta_graph_pb2.TensorInfo(dtype=dtype)
    if shape is None:
        tensor_info.tensor_shape.unknown_rank = True
    else:
        for size in shape:
            tensor_info.tensor_shape.dim.add().size = size
    return tensor_info


FLOAT = info(types_pb2.DT_FLOAT, [-1])
ONE_INPUT = {"x": FLOAT}


def parse(body, infos=ONE_INPUT):
    return json_codec.parse_predict(json.dumps(body).encode(), lambda name: infos)


def test_row_and_columnar_single_input():
    _, inputs, fmt = parse({"instances": [1.0, 2.0, 5.0]})
    assert fmt == json_codec.ROW and inputs["x"].dtype == np.float32
    np.testing.assert_array_equal(inputs["x"], [1, 2, 5])
    _, inputs, fmt = parse({"inputs": [[1, 2], [3, 4]]})
    assert fmt == json_codec.COLUMNAR and inputs["x"].shape == (2, 2)


def test_named_instances_and_b64():
    infos = {"tag": info(types_pb2.DT_STRING), "signal": info(types_pb2.DT_INT64)}
    body = {
        "instances": [
            {"tag": "foo", "signal": [1, 2]},
            {"tag": {"b64": base64.b64encode(b"\xff\x00").decode()}, "signal": [3, 4]},
        ]
    }
    _, inputs, _ = parse(body, infos)
    assert inputs["tag"].tolist() == [b"foo", b"\xff\x00"]
    assert inputs["signal"].dtype == np.int64 and inputs["signal"].shape == (2, 2)


def test_nan_and_infinity_tokens():
    _, inputs, _ = json_codec.parse_predict(b'{"instances": [NaN, Infinity, -Infinity]}', lambda name: ONE_INPUT)
    assert math.isnan(inputs["x"][0]) and inputs["x"][1] == np.inf and inputs["x"][2] == -np.inf
    text = json_codec.dumps(
        json_codec.format_predict({"y": np.array([np.nan, np.inf, -np.inf, 0.1], np.float32)}, json_codec.ROW)
    )
    assert text == b'{"predictions":[NaN,Infinity,-Infinity,0.1]}'


@pytest.mark.parametrize(
    "body, fragment",
    [
        ({}, "Missing 'inputs' or 'instances'"),
        ({"instances": [1], "inputs": [1]}, "both"),
        ({"instances": "abc"}, "list"),
        ({"instances": []}, "empty"),
        ({"instances": [[1], [1, 2]]}, "ragged"),
        ({"instances": ["a"]}, "numbers"),
        ({"instances": [None]}, "numbers"),
        ({"instances": [{"x": 1}, 2]}, "same keys"),
        ({"inputs": {"y": [1]}}, "not in the signature"),
        ({"signature_name": 3, "inputs": [1]}, "signature_name"),
    ],
)
def test_bad_requests_are_invalid_argument(body, fragment):
    with pytest.raises(ServingError) as caught:
        parse(body)
    assert caught.value.http_status == 400 and fragment in caught.value.message


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]", b"\xff\xfe", b"nul", b'{"instances": [1,]}'])
def test_malformed_json(raw):
    with pytest.raises(ServingError) as caught:
        json_codec.parse_predict(raw, lambda name: ONE_INPUT)
    assert caught.value.http_status == 400


def test_integer_checks():
    infos = {"x": info(types_pb2.DT_INT32)}
    with pytest.raises(ServingError, match="integers"):
        parse({"instances": [1.5]}, infos)
    with pytest.raises(ServingError, match="range"):
        parse({"instances": [2**40]}, infos)
    with pytest.raises(ServingError):
        parse({"instances": [{"b64": "!!notbase64"}]}, {"x": info(types_pb2.DT_STRING)})


def written(value):
    """What a client reads: the JSON text `dumps` writes, parsed."""
    return json.loads(json_codec.dumps(value))


def test_output_encoding():
    outputs = {
        "scores": np.array([[0.1, 0.2]], np.float32),
        "id": np.array([7], np.int64),
        "image_bytes": np.array([b"\x89PNG"], dtype=object),
        "label": np.array([b"cat"], object),
    }
    row = written(json_codec.format_predict(outputs, json_codec.ROW))
    assert row == {
        "predictions": [
            {
                "scores": [0.1, 0.2],
                "id": 7,
                "image_bytes": {"b64": base64.b64encode(b"\x89PNG").decode()},
                "label": "cat",
            }
        ]
    }
    columnar = written(json_codec.format_predict({"y": np.array([2.5, 3.0], np.float32)}, json_codec.COLUMNAR))
    assert columnar == {"outputs": [2.5, 3.0]}
    assert json_codec.jsonable(np.array([b"\xff"], object), "text") == [{"b64": "/w=="}]


@pytest.mark.parametrize(
    "array, text",
    [
        (np.array([[0.1, 1 / 3]], np.float32), b"[[0.1,0.33333334]]"),  # float32 precision
        (np.array([0.1], np.float64), b"[0.1]"),
        (np.array([0.1], np.float16), b"[0.099975586]"),
        (np.array(2.5, np.float32), b"2.5"),  # a scalar output
        (np.array([7, -1], np.int64), b"[7,-1]"),
        (np.array([2**64 - 1], np.uint64), b"[18446744073709551615]"),
        (np.array([True, False]), b"[true,false]"),
        (np.zeros((2, 0), np.float32), b"[[],[]]"),
        (np.array([[1.0, 2.0], [3.0, 4.0]], np.float32).T, b"[[1.0,3.0],[2.0,4.0]]"),  # not C-ordered
        (np.array([1.0, np.nan], np.float64), b"[1.0,NaN]"),
        (np.array(-np.inf, np.float32), b"-Infinity"),
    ],
)
def test_output_numbers_as_tf_serving_writes_them(array, text):
    assert json_codec.dumps(json_codec.jsonable(array)) == text


def test_row_format_needs_a_common_batch_size():
    with pytest.raises(ServingError, match="batch"):
        json_codec.format_predict({"a": np.zeros(2), "b": np.zeros(3)}, json_codec.ROW)
    assert json_codec.format_predict({"a": np.zeros(2), "b": np.zeros(3)}, json_codec.COLUMNAR)


def test_examples_for_classify_and_regress():
    import tensorflow as tf

    name, examples = json_codec.parse_examples(
        json.dumps(
            {
                "signature_name": "s",
                "context": {"c": "shared"},
                "examples": [{"x": 1.0, "n": [1, 2], "img": {"b64": "AAE="}}],
            }
        ).encode()
    )
    example = tf.train.Example.FromString(examples[0])
    assert name == "s"
    assert example.features.feature["x"].float_list.value == [1.0]
    assert example.features.feature["n"].int64_list.value == [1, 2]
    assert example.features.feature["img"].bytes_list.value == [b"\x00\x01"]
    assert example.features.feature["c"].bytes_list.value == [b"shared"]
    for bad in (
        {"examples": []},
        {"examples": [1]},
        {"examples": [{"x": [[1]]}]},
        {"examples": [{"x": ["a", 1]}]},
        {"context": {"x": 1}, "examples": [{"x": 2}]},
    ):
        with pytest.raises(ServingError):
            json_codec.parse_examples(json.dumps(bad).encode())


finite_floats = st.floats(width=32, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(finite_floats, min_size=3, max_size=3), min_size=1, max_size=5))
def test_float32_round_trip(rows):
    """Whatever float32 values go in come back exactly, written at float32 precision."""
    array = np.array(rows, np.float32)
    text = json_codec.dumps(json_codec.format_predict({"y": array}, json_codec.ROW))
    back = np.array(json.loads(text)["predictions"], np.float32)
    np.testing.assert_array_equal(back, array)
    _, inputs, _ = json_codec.parse_predict(text.replace(b"predictions", b"instances"), lambda name: ONE_INPUT)
    np.testing.assert_array_equal(inputs["x"], array)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=20), min_size=1, max_size=5))
def test_bytes_round_trip(values):
    array = np.array(values, dtype=object)
    encoded = json_codec.jsonable(array, "out_bytes")
    _, inputs, _ = parse({"instances": encoded}, {"x": info(types_pb2.DT_STRING)})
    assert inputs["x"].tolist() == values


def test_classify_and_regress_results_keep_non_finite_scores():
    from tensorflow_serving.apis import classification_pb2, regression_pb2

    classification = classification_pb2.ClassificationResult()
    classes = classification.classifications.add().classes
    classes.add(label="cat", score=0.1)
    classes.add(label="dog", score=float("nan"))
    assert json_codec.dumps(json_codec.format_classify(classification)) == b'{"result":[[["cat",0.1],["dog",NaN]]]}'
    regression = regression_pb2.RegressionResult()
    regression.regressions.add(value=2.5)
    regression.regressions.add(value=float("-inf"))
    assert json_codec.dumps(json_codec.format_regress(regression)) == b'{"result":[2.5,-Infinity]}'


@pytest.mark.parametrize(
    "body, in_pieces",
    [
        ({"instances": np.arange(120).reshape(40, 3).tolist()}, True),
        ({"signature_name": "", "inputs": np.linspace(-1, 1, 60).reshape(20, 3).tolist()}, True),
        ({"instances": [[1.5, float("nan")], [float("inf"), 2]] * 10}, True),
        ({"instances": [[1, 2], [3]] * 10}, False),  # ragged across pieces
        ({"instances": [[1, [2], 3], [4, 5, 6]] * 5}, False),  # a cut inside an element
        ({"instances": [[1.5], ["a"]] * 10}, False),  # strings: parsed whole
        ({"instances": []}, False),
        ({"instances": [[1, 2]], "inputs": [[1, 2]]}, False),
    ],
)
def test_large_bodies_parsed_in_pieces_as_whole(monkeypatch, body, in_pieces):
    """A large one-array body is parsed a piece at a time into the same array (or error)."""
    raw = json.dumps(body, allow_nan=True).encode()

    def outcome():
        try:
            signature_name, inputs, fmt = json_codec.parse_predict(raw, lambda name: ONE_INPUT)
        except ServingError as error:
            return error.message
        return signature_name, fmt, inputs["x"].shape, inputs["x"].dtype, inputs["x"].tobytes()

    whole = outcome()
    monkeypatch.setattr(json_codec, "PIECES_FROM_BYTES", 0)
    monkeypatch.setattr(json_codec, "PIECE_BYTES", 24)
    parsed = []
    monkeypatch.setattr(json_codec, "to_array", lambda *args: parsed.append(1) or to_array(*args))
    assert outcome() == whole
    assert (len(parsed) > 1) == in_pieces


to_array = json_codec.to_array
