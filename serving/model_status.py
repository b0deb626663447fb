"""GetModelStatus's answer, which REST (`GET /v1/models/<name>`) and gRPC (`ModelService`) both give."""

from tensorflow_serving.apis import get_model_status_pb2


def model_status_response(manager, name, version=None, label=None):
    response = get_model_status_pb2.GetModelStatusResponse()
    for number, state, error in manager.version_status(name, version, label):
        status = response.model_version_status.add()
        status.version = number
        status.state = state
        status.status.SetInParent()
        if error is not None:
            status.status.error_code = error.code.value[0]
            status.status.error_message = error.message
    return response
