"""gRPC PredictionService and ModelService, called with TF Serving's own stubs."""

import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2
from tensorflow_serving.apis import (
    classification_pb2,
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    yield (prediction_service_pb2_grpc.PredictionServiceStub(channel), model_service_pb2_grpc.ModelServiceStub(channel))
    channel.close()


def example(x):
    return tf.train.Example(
        features=tf.train.Features(feature={"x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))})
    )


def test_predict(stubs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([[1.0], [2.0], [5.0]], np.float32)))
    response = stubs[0].Predict(request, timeout=10)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[2.5], [3.0], [4.5]])
    assert response.model_spec.version.value == 123
    assert response.model_spec.signature_name == "serving_default"


def test_classify_regress(stubs):
    request = classification_pb2.ClassificationRequest()
    request.model_spec.name = "half_plus_two"
    request.model_spec.signature_name = "classify_x_to_y"
    request.input.example_list.examples.extend([example(1.0), example(5.0)])
    result = stubs[0].Classify(request, timeout=10).result
    assert [[c.score for c in cl.classes] for cl in result.classifications] == [[2.5], [4.5]]
    request = regression_pb2.RegressionRequest()
    request.model_spec.name = "half_plus_three"
    request.model_spec.signature_name = "tensorflow/serving/regress"
    request.input.example_list_with_context.examples.extend([example(1.0), example(2.0)])
    result = stubs[0].Regress(request, timeout=10).result
    assert [r.value for r in result.regressions] == [3.5, 4.0]


def test_metadata_and_status(stubs):
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "half_plus_two"
    response = stubs[0].GetModelMetadata(request, timeout=10)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    assert "serving_default" in signatures.signature_def
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = "half_plus_two"
    status_request.model_spec.version_label = "stable"
    status = stubs[1].GetModelStatus(status_request, timeout=10).model_version_status
    assert [(s.version, s.state) for s in status] == [(123, get_model_status_pb2.ModelVersionStatus.AVAILABLE)]


@pytest.mark.parametrize(
    "name, version, signature, code",
    [
        ("nope", None, "", grpc.StatusCode.NOT_FOUND),
        ("half_plus_two", 5, "", grpc.StatusCode.NOT_FOUND),
        ("half_plus_two", None, "nope", grpc.StatusCode.FAILED_PRECONDITION),
        ("../etc", None, "", grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
def test_predict_errors(stubs, name, version, signature, code):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature
    if version:
        request.model_spec.version.value = version
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array([1.0], np.float32)))
    with pytest.raises(grpc.RpcError) as caught:
        stubs[0].Predict(request, timeout=10)
    assert caught.value.code() == code


def test_wrong_dtype_is_invalid_argument(stubs):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "half_plus_two"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.array(["a"])))
    with pytest.raises(grpc.RpcError) as caught:
        stubs[0].Predict(request, timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


@pytest.mark.parametrize(
    "inputs, message",
    [
        (
            {"features": np.ones((2, 4))},
            "Input 'features' of signature 'serving_default' expects float32 [?, 4]; got float64 [2, 4].",
        ),
        (
            {"features": np.ones((1, 784), np.float32)},
            "Input 'features' of signature 'serving_default' expects float32 [?, 4]; got float32 [1, 784].",
        ),
        (
            {"feature": np.ones((1, 4), np.float32)},
            "Signature 'serving_default': input 'features' (float32 [?, 4]) is missing; 'feature' is not "
            "one of its inputs. It takes 'features' (float32 [?, 4]).",
        ),
    ],
)
def test_bad_inputs_are_named_with_what_was_expected(tiny_keras_running, inputs, message):
    """Checked against the signature before the graph runs: no graph node in the message."""
    channel = grpc.insecure_channel(f"127.0.0.1:{tiny_keras_running[0].grpc_port}")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "tiny"
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    try:
        with pytest.raises(grpc.RpcError) as caught:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=10)
    finally:
        channel.close()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == message


def test_reload_config(testdata, tmp_path):
    from serving.model_config import ModelEntry, build_config
    from tests.serving.serving_helpers import HALF_PLUS_THREE, HALF_PLUS_TWO, copy_model, start_server

    copy_model(HALF_PLUS_TWO, tmp_path / "a")
    copy_model(HALF_PLUS_THREE, tmp_path / "b")
    srv = start_server([ModelEntry("a", str(tmp_path / "a"))])
    channel = grpc.insecure_channel(f"127.0.0.1:{srv.grpc_port}")
    try:
        stub = model_service_pb2_grpc.ModelServiceStub(channel)
        request = model_management_pb2.ReloadConfigRequest()
        request.config.CopyFrom(build_config([ModelEntry("b", str(tmp_path / "b"))]))
        assert stub.HandleReloadConfigRequest(request, timeout=60).status.error_code == 0
        assert srv.manager.model_names() == ["b"]
        bad = model_management_pb2.ReloadConfigRequest()
        bad.config.model_config_list.config.add(name="../x", base_path="/tmp")
        assert stub.HandleReloadConfigRequest(bad, timeout=60).status.error_code == 3
    finally:
        channel.close()
        srv.stop()


def predict_request(proto, name="half_plus_two"):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.inputs["x"].CopyFrom(proto)
    return request


def declared(shape, dtype="DT_FLOAT", **values):
    """A TensorProto with `shape` and whatever `values` say, however little they match."""
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DataType.Value(dtype))
    for size in shape:
        proto.tensor_shape.dim.add(size=size)
    for field, value in values.items():
        if field == "tensor_content":
            proto.tensor_content = value
        else:
            getattr(proto, field).extend(value)
    return proto


@pytest.mark.parametrize(
    "proto, fragment",
    [
        (
            declared([200000, 28, 28], float_val=[1.0, 2.0]),
            "tensor_shape [200000, 28, 28] holds 156800000 float values but float_val has 2",
        ),
        (declared([3, 1], tensor_content=b"\0" * 8), "holds 3 float values (12 bytes) but tensor_content has 8 bytes"),
        (declared([2, 1]), "tensor_shape [2, 1] holds 2 float values but float_val has 0"),
        (declared([-1, 1], float_val=[1.0]), "has a negative dimension"),
        (declared([2], "DT_COMPLEX64", scomplex_val=[1.0, 2.0, 3.0]), "a complex64 value takes 2"),
        (declared([1], "DT_STRING", tensor_content=b"ab"), "string tensor sends its values in string_val"),
        (declared([1], "DT_RESOURCE"), "unsupported dtype resource"),
    ],
)
def test_tensor_whose_values_do_not_match_its_shape_is_refused(stubs, proto, fragment):
    started = time.monotonic()
    with pytest.raises(grpc.RpcError) as caught:
        stubs[0].Predict(predict_request(proto), timeout=10)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in caught.value.details() and "Input 'x'" in caught.value.details()
    assert time.monotonic() - started < 2


def test_declared_size_over_the_body_limit_is_refused_before_allocating(stubs, server):
    proto = declared([200000, 28, 28], float_val=[1.0])  # 63 bytes on the wire, 627 MB as an array
    assert len(predict_request(proto).SerializeToString()) < 100
    with pytest.raises(grpc.RpcError) as caught:
        stubs[0].Predict(predict_request(proto), timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert f"over the limit of {server.max_body_bytes} bytes" in caught.value.details()


def test_message_over_the_body_limit_is_refused(stubs, server):
    values = np.ones((server.max_body_bytes // 4 + 16, 1), np.float32)
    with pytest.raises(grpc.RpcError) as caught:
        stubs[0].Predict(predict_request(tf.make_tensor_proto(values)), timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_one_value_fills_the_shape_as_tensorflow_writes_it(stubs):
    response = stubs[0].Predict(predict_request(tf.make_tensor_proto(1.0, shape=[3, 1])), timeout=10)
    np.testing.assert_allclose(tf.make_ndarray(response.outputs["y"]), [[2.5], [2.5], [2.5]])


@pytest.fixture(scope="module")
def one_row_chunks(testdata, tmp_path_factory):
    from serving.model_config import ModelEntry
    from tests.serving.serving_helpers import HALF_PLUS_TWO, copy_model, start_server

    base = copy_model(HALF_PLUS_TWO, tmp_path_factory.mktemp("chunks") / "m")
    srv = start_server([ModelEntry("m", str(base))], request_chunk_rows=1, enable_warmup=False)
    yield srv
    srv.stop()


def in_flight(server):
    with server.manager.acquire("m") as entry:
        return entry._in_flight - 1


@pytest.mark.parametrize("how", ["deadline", "cancel"])
def test_work_stops_when_the_deadline_passes_or_the_client_cancels(one_row_chunks, how):
    """20000 one-row chunks take seconds: the server stops between chunks instead."""
    request = predict_request(tf.make_tensor_proto(np.ones((20000, 1), np.float32)), "m")
    with grpc.insecure_channel(f"127.0.0.1:{one_row_chunks.grpc_port}") as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        call = stub.Predict.future(request, timeout=0.3 if how == "deadline" else 30)
        time.sleep(0.15)
        assert in_flight(one_row_chunks) == 1
        if how == "cancel":
            call.cancel()
        else:
            with pytest.raises(grpc.RpcError) as caught:
                call.result()
            assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        stopped = time.monotonic() + 1.0
        while in_flight(one_row_chunks) and time.monotonic() < stopped:
            time.sleep(0.01)
        assert in_flight(one_row_chunks) == 0


class FakeContext:
    def __init__(self, active, remaining):
        self.active, self.remaining = active, remaining

    def is_active(self):
        return self.active

    def time_remaining(self):
        return self.remaining


def test_still_wanted_tells_a_passed_deadline_from_a_cancelled_call():
    from serving.errors import ServingError
    from serving.grpc_service import still_wanted

    still_wanted(FakeContext(True, 0.5))()
    for remaining, code in (
        (0, grpc.StatusCode.DEADLINE_EXCEEDED),
        (3.0, grpc.StatusCode.CANCELLED),
        (None, grpc.StatusCode.CANCELLED),
    ):
        with pytest.raises(ServingError) as caught:
            still_wanted(FakeContext(False, remaining))()
        assert caught.value.code == code


def test_run_timeouts_are_few_and_never_shorter_than_the_time_left():
    from serving.grpc_service import run_timeout_ms

    timeouts = {run_timeout_ms(FakeContext(True, seconds)) for seconds in np.linspace(0.0001, 100, 5000)}
    assert len(timeouts) <= 18 and run_timeout_ms(FakeContext(True, None)) is None
    assert all(run_timeout_ms(FakeContext(True, s)) >= s * 1000 for s in (0.0001, 0.3, 7.5, 99.9))
