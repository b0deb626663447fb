"""gRPC PredictionService and ModelService, called with TF Serving's own stubs."""

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     model_management_pb2, model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc, regression_pb2)


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    yield (prediction_service_pb2_grpc.PredictionServiceStub(channel),
           model_service_pb2_grpc.ModelServiceStub(channel))
    channel.close()


def example(x):
    return tf.train.Example(features=tf.train.Features(feature={
        "x": tf.train.Feature(float_list=tf.train.FloatList(value=[x]))}))


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


@pytest.mark.parametrize("name, version, signature, code", [
    ("nope", None, "", grpc.StatusCode.NOT_FOUND),
    ("half_plus_two", 5, "", grpc.StatusCode.NOT_FOUND),
    ("half_plus_two", None, "nope", grpc.StatusCode.FAILED_PRECONDITION),
    ("../etc", None, "", grpc.StatusCode.INVALID_ARGUMENT),
])
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


@pytest.mark.parametrize("inputs, message", [
    ({"features": np.ones((2, 4))},
     "Input 'features' of signature 'serving_default' expects float32 [?, 4]; got float64 [2, 4]."),
    ({"features": np.ones((1, 784), np.float32)},
     "Input 'features' of signature 'serving_default' expects float32 [?, 4]; got float32 [1, 784]."),
    ({"feature": np.ones((1, 4), np.float32)},
     "Signature 'serving_default': input 'features' (float32 [?, 4]) is missing; 'feature' is not "
     "one of its inputs. It takes 'features' (float32 [?, 4])."),
])
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
    from tests.serving.serving_helpers import HALF_PLUS_THREE, HALF_PLUS_TWO, copy_model, start_server
    from serving.model_config import ModelEntry, build_config

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
