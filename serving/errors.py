"""Serving errors carry a gRPC status code; REST maps it to HTTP as TF Serving does."""

import re

import grpc

# tensorflow_serving/model_servers/http_server.cc: ToHTTPStatusCode.
HTTP_STATUS = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNAUTHENTICATED: 401,
}
_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


class ServingError(Exception):
    """An error with a canonical status code (`grpc.StatusCode`)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def http_status(self):
        return HTTP_STATUS.get(self.code, 500)

    @property
    def code_name(self):
        return self.code.name


def invalid_argument(message):
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message):
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def failed_precondition(message):
    return ServingError(grpc.StatusCode.FAILED_PRECONDITION, message)


def unavailable(message):
    return ServingError(grpc.StatusCode.UNAVAILABLE, message)


def code_from_number(number):
    return _BY_NUMBER.get(int(number), grpc.StatusCode.UNKNOWN)


# TensorFlow's graph decorations: `[[{{node Max}}]]`, `{{function_node __inference_...}}`,
# `[Op:DecodePng]`, tensor names in assertion data (`x (map/while/Sub:0) = `), and the
# "Graph execution error" preamble with its "Detected at node ... (most recent call last)" trace.
_DECORATIONS = re.compile(
    r"\s*\[\[\{\{node [^}]*\}\}\]\]|\s*\[\[[^\]]*\]\]|\s*\{\{function_node [^}]*\}\}|\s*\[Op:[^\]]*\]"
    r"|\s*\([\w/.\-]+:\d+\)|Graph execution error:\s*|Detected at node .*?<stack traces unavailable>\s*"
    r"|Detected at node .*?\n\n",
    re.DOTALL,
)
# What TensorFlow appends after a blank line: "Errors may have originated from ...", hints.
_APPENDIX = re.compile(r"\n\s*\n.*", re.DOTALL)
# `tf.debugging.Assert` data: `assertion failed: [text] [3] [more text]`, strings C-escaped.
_ASSERTION_PREFIX = "assertion failed: ["


def clean_tf_message(message):
    """TensorFlow's error text as a client should read it: no graph node, tensor or
    function names, no traces, whitespace collapsed; assertion data joined into a sentence."""
    message = _APPENDIX.sub("", _DECORATIONS.sub("", message).strip())
    message = " ".join(message.split())
    if message.startswith(_ASSERTION_PREFIX) and message.endswith("]"):
        parts = message[len(_ASSERTION_PREFIX) : -1].split("] [")
        text = " ".join(part.replace("\\'", "'").replace('\\"', '"') for part in parts)
        message = " ".join(text.split())
    return message


def from_tf_error(error):
    """A `ServingError` for a `tf.errors.OpError` (same canonical code, cleaned text)."""
    message = getattr(error, "message", None) or str(error)
    return ServingError(code_from_number(getattr(error, "error_code", 2)), clean_tf_message(message))


class PortInUse(OSError):
    """A port the server was asked to listen on cannot be bound; the message says which flag to change."""

    def __init__(self, host, port, flag, reason):
        super().__init__(
            f"cannot listen on {host}:{port} ({reason or 'in use'}): another server may be using it; "
            f"choose another port with {flag}"
        )
