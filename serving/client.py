"""A client for TF Serving (`tensorflow/serving` or `kapps serve`) over REST or gRPC.

    http://host:8501  -> REST     grpc://host:8500 -> gRPC

`server_outputs(model_name, request, url)` backs `kapps <app> predict --server URL INPUT...`.
"""

import base64
import http.client
import json
import urllib.parse

import numpy as np

from serving import json_codec
from serving.errors import ServingError, code_from_number

DEFAULT_TIMEOUT = 30.0


def _decode_value(value):
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode_value(item) for item in value]
    if isinstance(value, str):
        return value.encode("utf-8")
    return value


def _array(value):
    decoded = _decode_value(value)
    array = np.array(decoded, dtype=object) if _has_bytes(decoded) else np.asarray(decoded)
    return array


def _has_bytes(value):
    while isinstance(value, list) and value:
        value = value[0]
    return isinstance(value, bytes)


class RestClient:
    def __init__(self, url, timeout=DEFAULT_TIMEOUT):
        parsed = urllib.parse.urlparse(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 8501
        self.timeout = timeout
        self._connection = None

    def _request(self, method, path, body=None):
        payload = None if body is None else json_codec.dumps(body)
        for attempt in range(2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._connection.request(method, path, payload, {"Content-Type": "application/json"} if payload else {})
                response = self._connection.getresponse()
                text = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        answer = json.loads(text) if text else {}
        if response.status != 200:
            raise ServingError(_code_for_http(response.status), answer.get("error", f"HTTP {response.status}"))
        return answer

    def close(self):
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @staticmethod
    def _path(model, version=None, label=None):
        path = f"/v1/models/{urllib.parse.quote(model, safe='')}"
        if version is not None:
            path += f"/versions/{int(version)}"
        elif label:
            path += f"/labels/{urllib.parse.quote(label, safe='')}"
        return path

    def status(self, model, version=None, label=None):
        return self._request("GET", self._path(model, version, label))

    def metadata(self, model, version=None, label=None):
        return self._request("GET", self._path(model, version, label) + "/metadata")

    def predict(self, model, inputs, signature_name="", version=None, label=None):
        """`{output: np.ndarray}` for `{input: array}` (sent in the columnar format)."""
        body = {"inputs": {name: json_codec.jsonable(value, name) for name, value in inputs.items()}}
        if signature_name:
            body["signature_name"] = signature_name
        answer = self._request("POST", self._path(model, version, label) + ":predict", body)
        outputs = answer["outputs"]
        if not isinstance(outputs, dict) or set(outputs) == {"b64"}:
            names = self._output_names(model, signature_name or "serving_default", version, label)
            outputs = {names[0]: outputs}
        return {name: _array(value) for name, value in outputs.items()}

    def _output_names(self, model, signature_name, version, label):
        metadata = self.metadata(model, version, label)
        signature = metadata["metadata"]["signature_def"]["signature_def"][signature_name]
        return sorted(signature["outputs"])

    def classify(self, model, examples, signature_name="", version=None):
        body = {"examples": examples, **({"signature_name": signature_name} if signature_name else {})}
        return self._request("POST", self._path(model, version) + ":classify", body)["result"]

    def regress(self, model, examples, signature_name="", version=None):
        body = {"examples": examples, **({"signature_name": signature_name} if signature_name else {})}
        return self._request("POST", self._path(model, version) + ":regress", body)["result"]


class GrpcClient:
    def __init__(self, url, timeout=DEFAULT_TIMEOUT):
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        parsed = urllib.parse.urlparse(url)
        target = f"{parsed.hostname or '127.0.0.1'}:{parsed.port or 8500}"
        self.timeout = timeout
        self._channel = grpc.insecure_channel(
            target,
            options=[("grpc.max_receive_message_length", 2**31 - 1), ("grpc.max_send_message_length", 2**31 - 1)],
        )
        self.prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self.models = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self):
        self._channel.close()

    def _call(self, method, request):
        import grpc

        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise ServingError(error.code(), error.details()) from None

    @staticmethod
    def _spec(spec, model, signature_name="", version=None, label=None):
        spec.name = model
        if signature_name:
            spec.signature_name = signature_name
        if version is not None:
            spec.version.value = int(version)
        elif label:
            spec.version_label = label

    def predict(self, model, inputs, signature_name="", version=None, label=None):
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        self._spec(request.model_spec, model, signature_name, version, label)
        for name, value in inputs.items():
            request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
        response = self._call(self.prediction.Predict, request)
        return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}

    def status(self, model, version=None, label=None):
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._spec(request.model_spec, model, "", version, label)
        return self._call(self.models.GetModelStatus, request)

    def metadata(self, model, version=None, label=None):
        from tensorflow_serving.apis import get_model_metadata_pb2

        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        self._spec(request.model_spec, model, "", version, label)
        return self._call(self.prediction.GetModelMetadata, request)


def _code_for_http(status):
    from serving.errors import HTTP_STATUS

    for code, http_status in HTTP_STATUS.items():
        if http_status == status:
            return code
    return code_from_number(2)


def connect(url, timeout=DEFAULT_TIMEOUT):
    scheme = urllib.parse.urlparse(url).scheme.lower()
    if scheme in ("http", "https"):
        if scheme == "https":
            raise ValueError("https is not supported; put TLS in front of the server (e.g. an ingress)")
        return RestClient(url, timeout)
    if scheme == "grpc":
        return GrpcClient(url, timeout)
    raise ValueError(f"Unknown server URL {url!r}: use http://host:8501 (REST) or grpc://host:8500 (gRPC)")


def server_outputs(model_name, request, url, timeout=DEFAULT_TIMEOUT):
    """`{output: array}` for `request` (its `signature_name` and `inputs`) from the model `model_name`
    of the server at `url`."""
    client = connect(url, timeout)
    try:
        return client.predict(model_name, request.inputs, request.signature_name)
    except ServingError as error:
        raise SystemExit(f"The server at {url} answered: {error.message}") from None
    except OSError as error:
        raise SystemExit(f"Could not reach a model server at {url}: {error}") from None
    finally:
        client.close()
