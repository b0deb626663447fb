"""Prometheus metrics: labels stay bounded whatever names clients send; nothing is kept when
monitoring is off."""

import grpc
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from tests.serving.serving_helpers import Http

NAMES = [f"nosuch{index}x" for index in range(40)]


def send_unknown_names(server):
    client = Http(server.rest_api_port)
    for name in NAMES:
        assert client("POST", f"/v1/models/{name}:predict", {"instances": [1.0]})[0] == 404
        assert client("GET", f"/v1/models/{name}/metadata")[0] == 404
    client.close()
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        for name in NAMES[:10]:
            request = predict_pb2.PredictRequest()
            request.model_spec.name = name
            try:
                stub.Predict(request, timeout=10)
            except grpc.RpcError as error:
                assert error.code() == grpc.StatusCode.NOT_FOUND


def test_unknown_model_names_share_one_label(server):
    send_unknown_names(server)
    text = server.metrics.render()
    assert not any(name in text for name in NAMES)
    assert ':tensorflow:serving:request_count{model_name="<unknown>",status="NOT_FOUND"}' in text
    client = Http(server.rest_api_port)
    assert client("POST", "/v1/models/half_plus_two:predict", {"instances": [1.0]})[0] == 200
    client.close()
    assert ':tensorflow:serving:request_count{model_name="half_plus_two",status="OK"}' in (server.metrics.render())


def test_nothing_is_recorded_with_monitoring_off(tiny_keras_running):
    server = tiny_keras_running[0]
    assert server.prometheus_path is None
    send_unknown_names(server)
    client = Http(server.rest_api_port)
    assert client("POST", "/v1/models/tiny:predict", {"instances": [[1.0, 2.0, 3.0, 4.0]]})[0] == 200
    client.close()
    assert ":tensorflow" not in server.metrics.render()
