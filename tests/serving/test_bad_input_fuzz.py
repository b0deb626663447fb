"""Malformed or hostile requests get a 4xx `{"error"}` naming what is wrong (never a 5xx, never a
graph node name), memory stays bounded, and the server keeps answering correctly: also for
requests split into chunks, with batching off and on, beside other clients' requests.

`KAPPS_FUZZ_EXAMPLES=N` runs N examples per test instead of the small CI defaults."""

import base64
import collections
import concurrent.futures
import json
import os
import re
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from serving.memory import resident_bytes
from tests.serving.serving_helpers import RAW_COLUMNS, RAW_MAX_PIXELS, Http, export_raw_input_model, start_server

RSS_GROWTH_LIMIT = 256 << 20
GRAPH_INTERNALS = re.compile(r"\{\{(function_)?node|\[Op:|\(\w+(/\w+)*:\d+\)")


def fuzz(default):
    """Hypothesis settings running `default` examples, or $KAPPS_FUZZ_EXAMPLES."""
    examples = int(os.environ.get("KAPPS_FUZZ_EXAMPLES", 0)) or default
    return settings(max_examples=examples, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.fixed_dictionaries({"b64": st.text(max_size=12)}),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["x", "features", "text", "inputs", "instances", "b64", "y"]), children, max_size=3
        )
    ),
    max_leaves=12,
)

bodies = st.one_of(
    st.fixed_dictionaries({"instances": json_values}),
    st.fixed_dictionaries({"inputs": json_values}),
    st.fixed_dictionaries({"signature_name": json_values, "instances": json_values}),
    st.fixed_dictionaries(
        {"examples": json_values},
        optional={
            "context": json_values,
            "signature_name": st.sampled_from(["regress_x_to_y", "classify_x_to_y", "serving_default", ""]),
        },
    ),
    st.dictionaries(st.text(max_size=6), json_values, max_size=3),
    json_values,
)
paths = st.sampled_from(
    [
        "/v1/models/half_plus_two:predict",
        "/v1/models/half_plus_two:regress",
        "/v1/models/half_plus_two:classify",
        "/v1/models/half_plus_two/versions/123:predict",
        "/v1/models/half_plus_two/labels/stable:predict",
        "/v1/models/half_plus_three:regress",
    ]
)


def check(status, body):
    assert status < 500, body
    if status != 200:
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body
        assert not GRAPH_INTERNALS.search(body["error"]), body["error"]


@fuzz(500)
@given(path=paths, body=bodies)
def test_random_json_bodies(server, path, body):
    client = _client(server)
    check(*client("POST", path, raw=json.dumps(body, allow_nan=True).encode()))


@fuzz(300)
@given(raw=st.binary(max_size=64))
def test_random_bytes(server, raw):
    check(*_client(server)("POST", "/v1/models/half_plus_two:predict", raw=raw))


@fuzz(300)
@given(
    name=st.text(alphabet="abc./%2F_-:", min_size=1, max_size=12),
    suffix=st.sampled_from(
        [":predict", "/metadata", "", "/versions/1", "/labels/x:predict", "/versions/99999999999999999999999:predict"]
    ),
    method=st.sampled_from(["GET", "POST", "DELETE"]),
)
def test_random_paths(server, name, suffix, method):
    status, body = _client(server)(method, f"/v1/models/{name}{suffix}", raw=b'{"instances": [1]}')
    check(status, body)


@fuzz(200)
@given(
    body=st.fixed_dictionaries({"instances": json_values})
    | st.fixed_dictionaries({"inputs": json_values}, optional={"signature_name": st.sampled_from(["serve_text", "x"])})
)
def test_keras_model_inputs(tiny_keras_running, body):
    server = tiny_keras_running[0]
    check(*_client(server)("POST", "/v1/models/tiny:predict", raw=json.dumps(body, allow_nan=True).encode()))


def test_still_serving_afterwards(server, rest):
    assert rest("POST", "/v1/models/half_plus_two:predict", {"instances": [1.0, 2.0, 5.0]}) == (
        200,
        {"predictions": [2.5, 3.0, 4.5]},
    )


# ----- raw inputs as the apps take them: image bytes, texts, CSV-row-like columns -------------
@pytest.fixture(scope="module")
def raw_served(tmp_path_factory):
    from serving.model_config import ModelEntry

    base = tmp_path_factory.mktemp("raw")
    module = export_raw_input_model(base / "raw" / "1")
    srv = start_server([ModelEntry("raw", str(base / "raw"))])
    client = Http(srv.rest_api_port)
    for signature, instances in VALID.items():  # first runs allocate what later ones reuse
        assert client("POST", PATH, {"signature_name": signature, "instances": instances})[0] == 200
    yield srv, module, resident_bytes()
    client.close()
    srv.stop()


PATH = "/v1/models/raw:predict"


def test_junk_examples_get_a_short_readable_400(raw_served):
    import base64

    import tensorflow as tf

    server, _, _ = raw_served
    client = Http(server.rest_api_port)
    junk = base64.b64encode(b"\xff\xfe" * 5000).decode()
    status, answer = client("POST", PATH, {"signature_name": "serve_examples", "instances": [{"b64": junk}]})
    assert status == 400 and len(answer["error"]) <= 1000 and "{{node" not in answer["error"]
    example = tf.train.Example(
        features=tf.train.Features(feature={"x": tf.train.Feature(float_list=tf.train.FloatList(value=[1.5]))})
    ).SerializeToString()
    status, answer = client(
        "POST", PATH, {"signature_name": "serve_examples", "instances": [{"b64": base64.b64encode(example).decode()}]}
    )
    assert (status, answer) == (200, {"predictions": [3.0]})
    client.close()


def png(width, height, color_type=0, bit_depth=8, rows=None, claimed=None):
    """A PNG (zlib by hand); `claimed` overrides the (width, height) its header states."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    row_bytes = (width * channels * bit_depth + 7) // 8
    rows = rows if rows is not None else bytes(height * (row_bytes + 1))
    header = struct.pack(">IIBBBBB", *(claimed or (width, height)), bit_depth, color_type, 0, 0, 0)
    palette = chunk(b"PLTE", bytes(range(48))) if color_type == 3 else b""
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + palette
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def b64(data):
    return {"b64": base64.b64encode(data).decode()}


VALID = {
    "serve_image_bytes": [b64(png(3, 2, rows=b"\0\0\x80\xff\0\xff\xff\xff"))],
    "serve_text": ["What a film!", "not good at all"],
    "serve_rows": [{"tenure": 5, "MonthlyCharges": 70.5, "Contract": "Month-to-month"}],
}

odd_modes = st.sampled_from(
    [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16), (2, 8), (2, 16), (3, 1), (3, 8), (4, 8), (4, 16), (6, 8), (6, 16)]
)


@st.composite
def image_bytes(draw):
    """Valid odd-mode PNGs, truncated or corrupted ones, header bombs, other formats' magic
    numbers with garbage, and random bytes."""
    kind = draw(st.sampled_from(["odd", "truncated", "corrupt", "bomb", "magic", "random"]))
    if kind == "random":
        return draw(st.binary(max_size=256))
    if kind == "magic":
        return draw(st.sampled_from([b"GIF89a", b"BM", b"\xff\xd8\xff", b"RIFF", b"\x89PNG\r\n\x1a\n"])) + draw(
            st.binary(max_size=128)
        )
    if kind == "bomb":
        side = draw(st.sampled_from([2049, 5000, 20000, 65535, 2**31 - 1]))
        return png(1, 1, claimed=(side, draw(st.sampled_from([1, side]))))
    color_type, bit_depth = draw(odd_modes)
    data = png(draw(st.integers(1, 40)), draw(st.integers(1, 40)), color_type, bit_depth)
    if kind == "truncated":
        return data[: draw(st.integers(0, len(data) - 1))]
    if kind == "corrupt":
        index = draw(st.integers(0, len(data) - 1))
        return data[:index] + bytes([data[index] ^ draw(st.integers(1, 255))]) + data[index + 1 :]
    return data


@fuzz(60)
@given(images=st.lists(image_bytes(), min_size=1, max_size=3))
def test_image_bytes(raw_served, images):
    check(
        *_client(raw_served[0])(
            "POST", PATH, {"signature_name": "serve_image_bytes", "instances": [b64(image) for image in images]}
        )
    )


def test_image_over_the_pixel_limit_names_the_limit(raw_served):
    status, body = _client(raw_served[0])(
        "POST", PATH, {"signature_name": "serve_image_bytes", "instances": [b64(png(1, 1, claimed=(20000, 20000)))]}
    )
    assert status == 400, body
    assert f"more than {RAW_MAX_PIXELS} pixels" in body["error"] and "image_bytes" in body["error"]
    check(status, body)


cells = (
    st.none()
    | st.booleans()
    | st.integers(-(2**65), 2**65)
    | st.floats()
    | st.text(max_size=6)
    | st.lists(st.floats(), max_size=2)
    | st.fixed_dictionaries({"b64": st.text(max_size=4)})
)


@fuzz(80)
@given(
    rows=st.lists(
        st.dictionaries(st.sampled_from([*RAW_COLUMNS, "customerID", "foo"]), cells, min_size=0, max_size=5),
        min_size=1,
        max_size=3,
    ),
    columnar=st.booleans(),
)
def test_csv_like_rows(raw_served, rows, columnar):
    if columnar:
        body = {"signature_name": "serve_rows", "inputs": {name: [row.get(name) for row in rows] for name in rows[0]}}
    else:
        body = {"signature_name": "serve_rows", "instances": rows}
    check(*_client(raw_served[0])("POST", PATH, raw=json.dumps(body, allow_nan=True).encode()))


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("Infinity", "'MonthlyCharges' must hold finite"),
        ("NaN", "'MonthlyCharges' must hold finite"),
        ('"cheap"', "MonthlyCharges"),
    ],
)
def test_bad_cells_name_the_column(raw_served, value, fragment):
    raw = (
        '{"signature_name": "serve_rows", "instances": [{"tenure": 1, "Contract": "x", '
        f'"MonthlyCharges": {value}}}]}}'
    ).encode()
    status, body = _client(raw_served[0])("POST", PATH, raw=raw)
    assert status == 400 and fragment in body["error"], body
    check(status, body)


@fuzz(40)
@given(
    texts=st.lists(
        st.text(max_size=64)
        | st.builds(
            lambda word, count: word * count,
            st.sampled_from(["good ", "bad ", "é ", "\0", " "]),
            st.integers(1, 1 << 18),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_long_texts(raw_served, texts):
    status, body = _client(raw_served[0])("POST", PATH, {"signature_name": "serve_text", "instances": texts})
    check(status, body)
    assert status == 200, body  # any string is a text


def test_raw_inputs_still_answered_correctly_and_memory_bounded(raw_served):
    import tensorflow as tf

    server, module, resident_before = raw_served
    images = [base64.b64decode(item["b64"]) for item in VALID["serve_image_bytes"]]
    expected = {
        "serve_image_bytes": module.serve_image_bytes(tf.constant(images))["brightness"],
        "serve_text": module.serve_text(tf.constant(VALID["serve_text"]))["probability"],
        "serve_rows": module.serve_rows(
            {
                name: tf.constant([row[name] for row in VALID["serve_rows"]], dtype)
                for name, dtype in RAW_COLUMNS.items()
            }
        )["churn_probability"],
    }
    for signature, instances in VALID.items():
        status, body = _client(server)("POST", PATH, {"signature_name": signature, "instances": instances})
        assert status == 200, body
        answers = [row["probability"] if signature == "serve_text" else row for row in body["predictions"]]
        np.testing.assert_allclose(answers, expected[signature].numpy(), rtol=1e-6)
    assert resident_bytes() - resident_before < RSS_GROWTH_LIMIT


# ----- across chunks, with batching off and on ------------------------------------------------
CHUNK_ROWS = 4


@pytest.fixture(scope="module")
def chunked_servers(tmp_path_factory):
    """The raw-input model served in chunks of `CHUNK_ROWS` rows, without and with batching,
    and a count of the cases tried, printed at the end."""
    from serving.batching import BatchingOptions
    from serving.model_config import ModelEntry

    base = tmp_path_factory.mktemp("raw-chunked")
    export_raw_input_model(base / "raw" / "1")
    batching = BatchingOptions(max_batch_size=CHUNK_ROWS, batch_timeout_micros=2000, num_batch_threads=2)
    servers = {
        name: start_server([ModelEntry("raw", str(base / "raw"))], request_chunk_rows=CHUNK_ROWS, batching=options)
        for name, options in (("unbatched", None), ("batched", batching))
    }
    tried = collections.Counter()
    yield servers, tried
    print(f"\nchunked fuzz: {sum(tried.values())} cases tried, by signature and status: {dict(tried)}")
    for server in servers.values():
        server.stop()


def bad_rows(signature):
    if signature == "serve_image_bytes":
        return image_bytes().map(b64)
    if signature == "serve_rows":
        return st.fixed_dictionaries({name: cells for name in RAW_COLUMNS})
    return st.text(max_size=16)


@st.composite
def chunked_requests(draw):
    """`(signature, rows)`: more rows than a chunk, valid ones and maybe one drawn from bad
    inputs past the first chunk."""
    signature = draw(st.sampled_from(sorted(VALID)))
    rows = [VALID[signature][0]] * draw(st.integers(CHUNK_ROWS + 1, 3 * CHUNK_ROWS))
    if draw(st.booleans()):
        rows[draw(st.integers(CHUNK_ROWS, len(rows) - 1))] = draw(bad_rows(signature))
    return signature, rows


def _post(server, signature, rows):
    client = Http(server.rest_api_port)
    try:
        return client(
            "POST", PATH, raw=json.dumps({"signature_name": signature, "instances": rows}, allow_nan=True).encode()
        )
    finally:
        client.close()


def _same_answer(answer, reference):
    assert answer[0] == reference[0], (answer, reference)
    if reference[0] == 200:
        np.testing.assert_allclose(_values(answer[1]), _values(reference[1]), rtol=1e-6)


def _values(body):
    return [row["probability"] if isinstance(row, dict) else row for row in body["predictions"]]


@fuzz(40)
@given(request=chunked_requests())
def test_chunked_and_batched_requests_answer_as_one_call(raw_served, chunked_servers, request):
    """Each answer is the unchunked, unbatched server's; a valid request sent beside it by another
    client is answered as alone."""
    servers, tried = chunked_servers
    signature, rows = request
    whole = _post(raw_served[0], signature, rows)
    check(*whole)
    _same_answer(_post(servers["unbatched"], signature, rows), whole)
    beside = VALID[signature]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        batched, other = pool.map(lambda sent: _post(servers["batched"], signature, sent), [rows, beside])
    check(*batched)
    _same_answer(batched, whole)
    _same_answer(other, _post(raw_served[0], signature, beside))
    tried[signature, whole[0]] += 1


_clients = {}


def _client(server):
    port = server.rest_api_port
    if port not in _clients:
        _clients[port] = Http(port)
    return _clients[port]


# ----- gRPC: hostile PredictRequests ---------------------------------------------------------
GRPC_ALLOWED = {"OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED"}
_grpc_cases = {}  # status code name -> how many fuzzed calls got it


def _grpc_stub(server):
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    key = ("grpc", server.grpc_port)
    if key not in _clients:
        _clients[key] = prediction_service_pb2_grpc.PredictionServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
        )
    return _clients[key]


dims = st.sampled_from([-1, 0, 1, 2, 3, 4, 200000, 2**31, 2**62])
value_fields = st.sampled_from(
    [
        "float_val",
        "double_val",
        "int_val",
        "int64_val",
        "bool_val",
        "string_val",
        "half_val",
        "scomplex_val",
        "dcomplex_val",
        "uint32_val",
        "uint64_val",
    ]
)


def _proto_values(draw, field, count):
    if field == "string_val":
        return draw(st.lists(st.binary(max_size=8), min_size=count, max_size=count))
    if field == "bool_val":
        return draw(st.lists(st.booleans(), min_size=count, max_size=count))
    if field in ("float_val", "double_val", "scomplex_val", "dcomplex_val"):
        return draw(st.lists(st.floats(width=32), min_size=count, max_size=count))
    return draw(st.lists(st.integers(0, 2**16), min_size=count, max_size=count))


@st.composite
def tensor_protos(draw):
    """TensorProtos whose dtype, shape and values agree or not: huge or negative declared
    shapes, unknown ranks, tensor_content of any length, values in the wrong field, odd dtypes."""
    from tensorflow.core.framework import tensor_pb2, types_pb2

    from serving.tensor_proto import VALUE_FIELDS

    proto = tensor_pb2.TensorProto()
    common = st.sampled_from([types_pb2.DT_FLOAT, types_pb2.DT_STRING, types_pb2.DT_INT64, types_pb2.DT_DOUBLE])
    proto.dtype = draw(common | st.sampled_from(sorted(types_pb2.DataType.values())) | st.integers(0, 130))
    shape = draw(st.lists(dims, max_size=4))
    proto.tensor_shape.unknown_rank = draw(st.booleans()) and draw(st.booleans())
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    elements = int(np.prod(shape, dtype=object)) if shape else 1
    kind = draw(st.sampled_from(["matching", "content", "any field"]))
    if kind == "matching" and proto.dtype in VALUE_FIELDS:  # the right field, often the right count
        field, numbers_per_value, _ = VALUE_FIELDS[proto.dtype]
        count = draw(st.sampled_from([1, elements if 0 <= elements <= 64 else 1, 0, 2])) * numbers_per_value
    elif kind == "content":
        proto.tensor_content = draw(st.binary(max_size=64))
        return proto
    else:
        field, count = draw(value_fields), draw(st.integers(0, 6))
    getattr(proto, field).extend(_proto_values(draw, field, count))
    return proto


grpc_requests = st.fixed_dictionaries(
    {
        "inputs": st.dictionaries(st.sampled_from(["x", "features", "text"]), tensor_protos(), min_size=1, max_size=1)
        | st.dictionaries(st.sampled_from(["x", "features", "text", "y", "", "é"]), tensor_protos(), max_size=2),
        "signature_name": st.sampled_from(["", "serving_default", "serve_text"]),
        "output_filter": st.lists(st.sampled_from(["y", "scores", "length", "nope"]), max_size=2),
    }
)


def check_grpc(server, model_name, fields):
    import grpc
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = fields["signature_name"]
    request.output_filter.extend(fields["output_filter"])
    for name, proto in fields["inputs"].items():
        request.inputs[name].CopyFrom(proto)
    try:
        _grpc_stub(server).Predict(request, timeout=30)
        code = "OK"
    except grpc.RpcError as error:
        code = error.code().name
        assert code in GRPC_ALLOWED or (code == "FAILED_PRECONDITION" and "not found" in error.details()), (
            code,
            error.details(),
            request,
        )
        assert not GRAPH_INTERNALS.search(error.details()), error.details()
    _grpc_cases[code] = _grpc_cases.get(code, 0) + 1


@fuzz(300)
@given(fields=grpc_requests)
def test_grpc_hostile_predict_requests(server, fields):
    check_grpc(server, "half_plus_two", fields)


@fuzz(200)
@given(fields=grpc_requests)
def test_grpc_hostile_predict_requests_on_a_keras_model(tiny_keras_running, fields):
    check_grpc(tiny_keras_running[0], "tiny", fields)


def test_grpc_oversize_messages_and_declared_bombs(server):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    before = resident_bytes()
    oversize = predict_pb2.PredictRequest()
    oversize.model_spec.name = "half_plus_two"
    oversize.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones((server.max_body_bytes // 4 + 1, 1), np.float32)))
    bomb = predict_pb2.PredictRequest()
    bomb.model_spec.name = "half_plus_two"
    bomb.inputs["x"].CopyFrom(tf.make_tensor_proto(1.0, shape=[200000, 28, 28]))
    for request in (oversize, bomb, oversize, bomb):
        with pytest.raises(grpc.RpcError) as caught:
            _grpc_stub(server).Predict(request, timeout=30)
        assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, caught.value.details()
        _grpc_cases["RESOURCE_EXHAUSTED"] = _grpc_cases.get("RESOURCE_EXHAUSTED", 0) + 1
    assert resident_bytes() - before < RSS_GROWTH_LIMIT


def test_grpc_still_serving_after_the_fuzz(server, record_property):
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0], [5.0]], np.float32)))
    response = _grpc_stub(server).Predict(request, timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[2.5], [4.5]])
    record_property("grpc_fuzz_cases", dict(_grpc_cases))
    print(f"gRPC fuzz: {sum(_grpc_cases.values())} hostile requests tried, by status: {_grpc_cases}")
    assert not _grpc_cases or _grpc_cases.get("INVALID_ARGUMENT", 0) > 0
