"""One loaded SavedModel version, run the way TF Serving runs it.

The MetaGraph tagged `serve` is loaded into its own graph and session (as
`tensorflow_model_server` does), and each signature is called through a session
callable fed by the SignatureDef's tensor names. This serves TF1 and TF2
SavedModels alike and accepts what TF Serving accepts (the runtime, not the
Python front end, checks shapes and dtypes).
"""

import functools
import threading

import numpy as np

from serving.errors import ServingError, from_tf_error, invalid_argument, failed_precondition

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
INIT_OP_SIGNATURE = "__saved_model_init_op"


def _tf():
    import tensorflow as tf

    return tf


def shape_of(tensor_info):
    """The TensorInfo's shape as a tuple with None for unknown dims, or None if unknown rank."""
    shape = tensor_info.tensor_shape
    if shape.unknown_rank:
        return None
    return tuple(None if dim.size < 0 else dim.size for dim in shape.dim)


def numpy_dtype(tensor_info):
    return _numpy_dtype(tensor_info.dtype)


@functools.lru_cache(maxsize=None)
def _numpy_dtype(enum):
    tf = _tf()
    dtype = tf.dtypes.as_dtype(enum)
    return np.dtype(object) if dtype == tf.string else np.dtype(dtype.as_numpy_dtype)


def _compatible(shape, array_shape):
    if shape is None:
        return True
    return len(shape) == len(array_shape) and all(
        want is None or want == got for want, got in zip(shape, array_shape))


class SavedModelServable:
    """A SavedModel version: its signature defs and a thread-safe `run`."""

    def __init__(self, name, version, path, intra_op_threads=0, inter_op_threads=0):
        self.name = name
        self.version = int(version)
        self.path = str(path)
        tf = _tf()
        self._graph = tf.Graph()
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=intra_op_threads,
                                          inter_op_parallelism_threads=inter_op_threads)
        self._session = tf.compat.v1.Session(graph=self._graph, config=config)
        try:
            with self._graph.as_default():
                self.meta_graph_def = tf.compat.v1.saved_model.loader.load(
                    self._session, ["serve"], self.path)
        except Exception:
            self._session.close()
            raise
        self.signature_defs = dict(self.meta_graph_def.signature_def)
        self._callables = {}
        self._lock = threading.Lock()

    def close(self):
        self._session.close()

    # ----- signatures ---------------------------------------------------------
    def signature(self, name=None):
        name = name or DEFAULT_SIGNATURE
        signature = self.signature_defs.get(name)
        if signature is None or name == INIT_OP_SIGNATURE:
            raise failed_precondition(f'Serving signature key "{name}" not found.')
        return name, signature

    def input_infos(self, signature_name=None):
        return dict(self.signature(signature_name)[1].inputs)

    # ----- running ------------------------------------------------------------
    def _callable(self, signature_name, signature, input_names, output_names, timeout_ms=None):
        key = (signature_name, input_names, output_names, timeout_ms)
        function = self._callables.get(key)
        if function is None:
            from tensorflow.core.protobuf import config_pb2

            options = config_pb2.CallableOptions(
                feed=[signature.inputs[name].name for name in input_names],
                fetch=[signature.outputs[name].name for name in output_names])
            if timeout_ms:
                # As TF Serving does: the runtime cancels a run past the deadline.
                options.run_options.timeout_in_ms = int(timeout_ms)
            with self._lock:
                function = self._callables.get(key)
                if function is None:
                    function = self._session._make_callable_from_options(options)
                    self._callables[key] = function
        return function

    def run(self, signature_name, inputs, output_filter=(), timeout_ms=None):
        """Runs a signature on `{input alias: np.ndarray}`; returns `{output alias: np.ndarray}`.

        `timeout_ms` makes the runtime stop the run with DEADLINE_EXCEEDED after that long.
        """
        signature_name, signature = self.signature(signature_name)
        expected, sent = set(signature.inputs), set(inputs)
        if expected != sent:
            raise invalid_argument(
                f"input size does not match signature: {len(sent)}!={len(expected)} "
                f"len({{{', '.join(sorted(sent))}}}) != len({{{', '.join(sorted(expected))}}}). "
                f"Sent extra: {{{', '.join(sorted(sent - expected))}}}. "
                f"Missing but required: {{{', '.join(sorted(expected - sent))}}}.")
        output_names = tuple(sorted(output_filter)) if output_filter else tuple(sorted(signature.outputs))
        for name in output_names:
            if name not in signature.outputs:
                raise invalid_argument(f"output tensor alias not found in signature: {name}")
        input_names = tuple(sorted(inputs))
        function = self._callable(signature_name, signature, input_names, output_names, timeout_ms)
        arrays = [inputs[name] for name in input_names]
        tf = _tf()
        try:
            results = function(*arrays)
        except tf.errors.OpError as error:
            raise self._classify_failure(error, signature, input_names, arrays) from None
        except (ValueError, TypeError) as error:
            raise invalid_argument(str(error)) from None
        return dict(zip(output_names, results))

    @staticmethod
    def _classify_failure(error, signature, input_names, arrays):
        """A runtime failure on inputs that contradict the signature is the client's fault."""
        serving_error = from_tf_error(error)
        if serving_error.http_status >= 500 or serving_error.http_status == 409:
            for name, array in zip(input_names, arrays):
                if not _compatible(shape_of(signature.inputs[name]), np.shape(array)):
                    return invalid_argument(
                        f"Input '{name}' has shape {list(np.shape(array))}, incompatible with the "
                        f"signature's {list(shape_of(signature.inputs[name]))}: "
                        f"{serving_error.message.splitlines()[0]}")
        return serving_error


def is_client_error(error):
    return isinstance(error, ServingError) and error.http_status < 500
