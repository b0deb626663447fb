"""TF Serving's gRPC services (`PredictionService`, `ModelService`) on grpcio.

The servicers are the ones generated in `tensorflow_serving.apis`, so TF
Serving's own stubs (and any client written for `tensorflow_model_server`)
work unchanged.
"""

import concurrent.futures
import logging
import math
import os

import grpc
from tensorflow_serving.apis import (
    classification_pb2,
    model_management_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
    regression_pb2,
)

from serving import inference
from serving.errors import PortInUse, ServingError, invalid_argument
from serving.metrics import Timer
from serving.model_status import model_status_response
from serving.tensor_proto import arrays_from_tensor_protos

log = logging.getLogger("kapps.serving.grpc")
MAX_SEND_MESSAGE_BYTES = 2**31 - 1
KEEPALIVE_PING_SECONDS = 60  # a client that vanished mid-call is found out (and its work cancelled)


def _spec(model_spec):
    version = model_spec.version.value if model_spec.HasField("version") else None
    label = model_spec.version_label if model_spec.WhichOneof("version_choice") == "version_label" else None
    return model_spec.name, version, label


class _Servicer:
    def __init__(self, manager, metrics):
        self.manager = manager
        self.metrics = metrics

    def _call(self, api, request, context, function):
        timer = Timer()
        name = self.manager.metrics_label(getattr(getattr(request, "model_spec", None), "name", ""))
        try:
            response = function()
        except ServingError as error:
            self.metrics.record_request(name, api, "GRPC", error.code_name, timer.elapsed())
            context.abort(error.code, error.message)
        except grpc.RpcError:
            raise
        except Exception as error:  # noqa: BLE001
            log.exception("Unexpected error in %s", api)
            context.abort(grpc.StatusCode.INTERNAL, f"Internal error: {error}")
        self.metrics.record_request(name, api, "GRPC", "OK", timer.elapsed())
        return response


def still_wanted(context):
    """A check that stops a call's work (between chunks) once its client is gone or its
    deadline has passed, with the status gRPC gives such a call."""

    def check():
        if context.is_active():
            return
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        raise ServingError(grpc.StatusCode.CANCELLED, "The client cancelled the call")

    return check


def run_timeout_ms(context):
    """The call's remaining time for TensorFlow's run deadline, rounded up to a power of two
    milliseconds: each distinct timeout is a compiled callable, so they must be few."""
    remaining = context.time_remaining()
    if remaining is None or remaining > 2**31 / 1000:
        return None
    return 2 ** math.ceil(math.log2(max(remaining * 1000, 1)))


class PredictionServicer(_Servicer, prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, manager, metrics, max_tensor_bytes):
        super().__init__(manager, metrics)
        self.max_tensor_bytes = max_tensor_bytes

    def Predict(self, request, context):
        def run():
            import tensorflow as tf

            check = still_wanted(context)
            with self.manager.acquire(*_spec(request.model_spec)) as entry:
                signature = inference.find_signature(entry, request.model_spec.signature_name)
                inputs = arrays_from_tensor_protos(request.inputs, self.max_tensor_bytes)
                outputs = inference.predict(
                    entry,
                    signature,
                    inputs,
                    tuple(request.output_filter),
                    timeout_ms=run_timeout_ms(context),
                    check=check,
                )
                response = predict_pb2.PredictResponse()
                response.model_spec.name = entry.model_name
                response.model_spec.version.value = entry.version
                response.model_spec.signature_name = signature[0]
                for key, value in outputs.items():
                    response.outputs[key].CopyFrom(tf.make_tensor_proto(value))
                return response

        return self._call("predict", request, context, run)

    def _examples_call(self, api, request, context, function, response_class):
        def run():
            with self.manager.acquire(*_spec(request.model_spec)) as entry:
                examples = inference.examples_from_input(request.input)
                still_wanted(context)()  # a call that waited for a pool thread may be over already
                signature_name, result = function(entry, request.model_spec.signature_name or None, examples)
                response = response_class()
                response.model_spec.name = entry.model_name
                response.model_spec.version.value = entry.version
                response.model_spec.signature_name = signature_name
                response.result.CopyFrom(result)
                return response

        return self._call(api, request, context, run)

    def Classify(self, request, context):
        return self._examples_call(
            "classify", request, context, inference.classify, classification_pb2.ClassificationResponse
        )

    def Regress(self, request, context):
        return self._examples_call("regress", request, context, inference.regress, regression_pb2.RegressionResponse)

    def GetModelMetadata(self, request, context):
        def run():
            fields = list(request.metadata_field)
            if fields != ["signature_def"]:
                raise invalid_argument(
                    "Metadata field(s) not supported: "
                    f"{', '.join(f for f in fields if f != 'signature_def') or '(none requested)'}"
                )
            with self.manager.acquire(*_spec(request.model_spec)) as entry:
                return inference.metadata_response(entry)

        return self._call("metadata", request, context, run)

    def MultiInference(self, request, context):
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not supported")


class ModelServicer(_Servicer, model_service_pb2_grpc.ModelServiceServicer):
    def GetModelStatus(self, request, context):
        return self._call(
            "status", request, context, lambda: model_status_response(self.manager, *_spec(request.model_spec))
        )

    def HandleReloadConfigRequest(self, request, context):
        response = model_management_pb2.ReloadConfigResponse()
        try:
            self.manager.reload_config(request.config)
        except ServingError as error:
            response.status.error_code = error.code.value[0]
            response.status.error_message = error.message
        except Exception as error:  # noqa: BLE001 - reported in the response, as TF Serving does
            response.status.error_code = grpc.StatusCode.UNKNOWN.value[0]
            response.status.error_message = str(error)
        return response


def parse_channel_arguments(text):
    """`[(key, value)]` from TF Serving's --grpc_channel_arguments (`key=value,...`; integer
    values as integers)."""
    arguments = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, separator, value = item.partition("=")
        if not separator or not key.strip():
            raise ValueError(f"--grpc_channel_arguments: expected key=value, got {item!r}")
        value = value.strip()
        arguments.append((key.strip(), int(value) if value.lstrip("-").isdigit() else value))
    return arguments


def server_options(max_message_bytes, idle_timeout_seconds, header_timeout_seconds, channel_arguments=()):
    """grpc.server options: REST's body limit for received messages; connections closed when
    idle (`grpc.max_connection_idle_ms`) or when the client's HTTP/2 preface does not arrive in
    time (`grpc.server_handshake_timeout_ms`); keepalive pings find vanished clients.
    `channel_arguments` (from --grpc_channel_arguments) override these."""
    options = {
        "grpc.max_receive_message_length": int(max_message_bytes),
        "grpc.max_send_message_length": MAX_SEND_MESSAGE_BYTES,
        "grpc.so_reuseport": 0,
        "grpc.max_connection_idle_ms": int(idle_timeout_seconds * 1000),
        "grpc.server_handshake_timeout_ms": int(header_timeout_seconds * 1000),
        "grpc.keepalive_time_ms": KEEPALIVE_PING_SECONDS * 1000,
    }
    options.update(channel_arguments)
    return list(options.items())


class GrpcServer:
    def __init__(
        self,
        manager,
        metrics,
        host="127.0.0.1",
        port=8500,
        max_workers=None,
        max_message_bytes=64 << 20,
        idle_timeout_seconds=300,
        header_timeout_seconds=30,
        channel_arguments=(),
    ):
        self.host = host
        self.port = port
        # Each RPC holds a pool thread while it waits for its batch: a pool smaller than the
        # number of concurrent clients would cap the batch size (and so the batching gain).
        self._server = grpc.server(
            concurrent.futures.ThreadPoolExecutor(
                max_workers=max_workers or max(64, 8 * (os.cpu_count() or 1)), thread_name_prefix="grpc"
            ),
            options=server_options(max_message_bytes, idle_timeout_seconds, header_timeout_seconds, channel_arguments),
        )
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(manager, metrics, max_message_bytes), self._server
        )
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(manager, metrics), self._server)

    def start(self):
        host = f"[{self.host}]" if ":" in self.host else self.host
        try:
            bound = self._server.add_insecure_port(f"{host}:{self.port}")
        except RuntimeError:  # grpcio's answer when the port is taken
            bound = 0
        if not bound:
            raise PortInUse(self.host, self.port, "--port", None)
        self.port = bound
        self._server.start()
        return self

    def stop(self, grace=2):
        self._server.stop(grace).wait(grace + 5)
