"""Thousands of malformed or hostile requests: each gets a 4xx `{"error"}`, never a 5xx, and
the server keeps serving."""

import json

from hypothesis import HealthCheck, given, settings, strategies as st

from tests.serving.serving_helpers import Http

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
    | st.fixed_dictionaries({"b64": st.text(max_size=12)}),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["x", "features", "text", "inputs", "instances", "b64", "y"]), children,
        max_size=3),
    max_leaves=12)

bodies = st.one_of(
    st.fixed_dictionaries({"instances": json_values}),
    st.fixed_dictionaries({"inputs": json_values}),
    st.fixed_dictionaries({"signature_name": json_values, "instances": json_values}),
    st.fixed_dictionaries({"examples": json_values}, optional={"context": json_values,
                                                              "signature_name": st.sampled_from(
                                                                  ["regress_x_to_y", "classify_x_to_y",
                                                                   "serving_default", ""])}),
    st.dictionaries(st.text(max_size=6), json_values, max_size=3),
    json_values,
)
paths = st.sampled_from([
    "/v1/models/half_plus_two:predict", "/v1/models/half_plus_two:regress",
    "/v1/models/half_plus_two:classify", "/v1/models/half_plus_two/versions/123:predict",
    "/v1/models/half_plus_two/labels/stable:predict", "/v1/models/half_plus_three:regress",
])
SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


def check(status, body):
    assert status < 500, body
    if status != 200:
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body


@settings(max_examples=1500, **SETTINGS)
@given(path=paths, body=bodies)
def test_random_json_bodies(server, path, body):
    client = _client(server)
    check(*client("POST", path, raw=json.dumps(body, allow_nan=True).encode()))


@settings(max_examples=600, **SETTINGS)
@given(raw=st.binary(max_size=64))
def test_random_bytes(server, raw):
    check(*_client(server)("POST", "/v1/models/half_plus_two:predict", raw=raw))


@settings(max_examples=600, **SETTINGS)
@given(name=st.text(alphabet="abc./%2F_-:", min_size=1, max_size=12),
       suffix=st.sampled_from([":predict", "/metadata", "", "/versions/1", "/labels/x:predict",
                               "/versions/99999999999999999999999:predict"]),
       method=st.sampled_from(["GET", "POST", "DELETE"]))
def test_random_paths(server, name, suffix, method):
    status, body = _client(server)(method, f"/v1/models/{name}{suffix}", raw=b'{"instances": [1]}')
    check(status, body)


@settings(max_examples=400, **SETTINGS)
@given(body=st.fixed_dictionaries({"instances": json_values})
       | st.fixed_dictionaries({"inputs": json_values},
                               optional={"signature_name": st.sampled_from(["serve_text", "x"])}))
def test_keras_model_inputs(tiny_keras_running, body):
    server = tiny_keras_running[0]
    check(*_client(server)("POST", "/v1/models/tiny:predict",
                           raw=json.dumps(body, allow_nan=True).encode()))


def test_still_serving_afterwards(server, rest):
    assert rest("POST", "/v1/models/half_plus_two:predict", {"instances": [1.0, 2.0, 5.0]}) == (
        200, {"predictions": [2.5, 3.0, 4.5]})


_clients = {}


def _client(server):
    port = server.rest_api_port
    if port not in _clients:
        _clients[port] = Http(port)
    return _clients[port]
