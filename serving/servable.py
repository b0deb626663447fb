"""One loaded SavedModel version, run the way TF Serving runs it.

The MetaGraph tagged `serve` is loaded into its own graph and session (as
`tensorflow_model_server` does), and each signature is called through a session
callable fed by the SignatureDef's tensor names. This serves TF1 and TF2
SavedModels alike.

Inputs are checked against the signature before the graph runs, so that a client
reads what was expected and what arrived rather than a graph node's complaint:
names always, dtypes and shapes for TF2 SavedModels. A TF2 signature is a
tf.function traced for its input_signature, so what it declares holds; TF1 graphs
(TF Serving's half_plus_two) declare shapes their ops do not need, or a float input
that really takes serialized tf.Examples, and TF Serving feeds them what arrives.
"""

import contextlib
import functools
import logging
import threading

import numpy as np

from serving.errors import ServingError, failed_precondition, from_tf_error, invalid_argument
from serving.request_rules import ModelRules

DEFAULT_SIGNATURE = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"
INIT_OP_SIGNATURE = "__saved_model_init_op"
MAX_ERROR_CHARACTERS = 1000  # TensorFlow may quote a whole input back


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


@functools.cache
def _numpy_dtype(enum):
    tf = _tf()
    dtype = tf.dtypes.as_dtype(enum)
    return np.dtype(object) if dtype == tf.string else np.dtype(dtype.as_numpy_dtype)


def dtype_name(dtype):
    return "string" if dtype.kind in "OSU" else dtype.name


def shape_text(shape):
    return "any shape" if shape is None else "[" + ", ".join("?" if dim is None else str(dim) for dim in shape) + "]"


def spec_text(tensor_info):
    """`float32 [?, 28, 28]`: what a signature input takes."""
    return f"{dtype_name(numpy_dtype(tensor_info))} {shape_text(shape_of(tensor_info))}"


def array_text(array):
    """`float32 [1, 784]`, with the size in bytes of a string tensor's values."""
    text = f"{dtype_name(array.dtype)} {shape_text(array.shape)}"
    if array.dtype.kind in "OSU":
        size = sum(len(item) for item in array.ravel() if isinstance(item, (bytes, str)))
        text += f", {size} bytes"
    return text


def _compatible(shape, array_shape):
    if shape is None:
        return True
    return len(shape) == len(array_shape) and all(want is None or want == got for want, got in zip(shape, array_shape))


@contextlib.contextmanager
def _tensorflow_log_at(level):
    """TensorFlow's Python logger at `level` for a while: the TF1 loader, which serves
    signatures exactly as TF Serving does, warns that it is deprecated on every load."""
    logger = logging.getLogger("tensorflow")
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


class SavedModelServable:
    """A SavedModel version: its signature defs, its request rules (`serving.request_rules`)
    and a thread-safe `run`."""

    def __init__(self, name, version, path, intra_op_threads=0, inter_op_threads=0):
        self.name = name
        self.version = int(version)
        self.path = str(path)
        tf = _tf()
        self._graph = tf.Graph()
        config = tf.compat.v1.ConfigProto(
            intra_op_parallelism_threads=intra_op_threads, inter_op_parallelism_threads=inter_op_threads
        )
        self._session = tf.compat.v1.Session(graph=self._graph, config=config)
        try:
            with self._graph.as_default(), _tensorflow_log_at(logging.ERROR):
                self.meta_graph_def = tf.compat.v1.saved_model.loader.load(self._session, ["serve"], self.path)
            self.rules = ModelRules.read(self.path)
        except Exception:
            self._session.close()
            raise
        self.signature_defs = dict(self.meta_graph_def.signature_def)
        self._input_specs = {}
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

    def input_specs(self, signature_name, signature):
        """`{alias: (numpy dtype, shape or None)}` of a signature's inputs (cached)."""
        specs = self._input_specs.get(signature_name)
        if specs is None:
            specs = self._input_specs[signature_name] = {
                name: (numpy_dtype(info), shape_of(info)) for name, info in signature.inputs.items()
            }
        return specs

    # ----- running ------------------------------------------------------------
    def _callable(self, signature_name, signature, input_names, output_names, timeout_ms=None):
        key = (signature_name, input_names, output_names, timeout_ms)
        function = self._callables.get(key)
        if function is None:
            from tensorflow.core.protobuf import config_pb2

            options = config_pb2.CallableOptions(
                feed=[signature.inputs[name].name for name in input_names],
                fetch=[signature.outputs[name].name for name in output_names],
            )
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
        self.check_inputs(signature_name, signature, inputs)
        return self.run_checked(signature_name, signature, inputs, output_filter, timeout_ms)

    def run_checked(self, signature_name, signature, inputs, output_filter=(), timeout_ms=None):
        """`run` on inputs already checked (`check_inputs`) against the signature `signature_name`
        already looked up (`signature`)."""
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
            raise self._classify_failure(error, signature_name, signature, inputs) from None
        except UnicodeDecodeError:  # TensorFlow's message quoted undecodable input bytes
            raise invalid_argument(
                f"Signature '{signature_name}' could not parse its inputs "
                f"({', '.join(sorted(inputs))}): check their encoding."
            ) from None
        except (ValueError, TypeError) as error:
            raise invalid_argument(str(error)[:MAX_ERROR_CHARACTERS]) from None
        return dict(zip(output_names, results))

    @functools.cached_property
    def declares_specs(self):
        """Whether declared dtypes and shapes hold: the SavedModel is TF2 (it has an object
        graph)."""
        return bool(self.meta_graph_def.object_graph_def.nodes)

    def check_inputs(self, signature_name, signature, inputs):
        """Refuses inputs the signature does not take, with what it expected and what came."""
        specs = self.input_specs(signature_name, signature)
        if inputs.keys() != specs.keys():
            expected, sent = set(signature.inputs), set(inputs)
            problems = [
                f"input '{name}' ({spec_text(signature.inputs[name])}) is missing" for name in sorted(expected - sent)
            ]
            problems += [f"'{name}' is not one of its inputs" for name in sorted(sent - expected)]
            takes = ", ".join(f"'{name}' ({spec_text(signature.inputs[name])})" for name in sorted(expected))
            raise invalid_argument(
                f"Signature '{signature_name}': {'; '.join(problems)}. It takes {takes or 'no inputs'}."
            )
        if not self.declares_specs:
            return
        for name, (wanted, shape) in specs.items():
            array = np.asarray(inputs[name])
            dtype_ok = (array.dtype.kind in "OSU") if wanted.kind == "O" else array.dtype == wanted
            if not (dtype_ok and _compatible(shape, array.shape)):
                raise invalid_argument(
                    f"Input '{name}' of signature '{signature_name}' expects "
                    f"{spec_text(signature.inputs[name])}; got {array_text(array)}."
                )

    @staticmethod
    def _classify_failure(error, signature_name, signature, inputs):
        """A runtime failure, worded for the client: a failure on inputs that contradict the
        declared shapes is the client's fault; a one-input signature's error names the input."""
        serving_error = from_tf_error(error)
        if serving_error.http_status >= 500 or serving_error.http_status == 409:
            for name, array in sorted(inputs.items()):
                info = signature.inputs[name]
                if not _compatible(shape_of(info), np.shape(array)):
                    return invalid_argument(
                        f"Input '{name}' of signature '{signature_name}' expects {spec_text(info)}; "
                        f"got {array_text(np.asarray(array))}: {serving_error.message}"
                    )
        if serving_error.http_status < 500 and len(inputs) == 1:
            name, array = next(iter(inputs.items()))
            return ServingError(
                serving_error.code,
                (
                    f"{serving_error.message} (input '{name}' of signature '{signature_name}': "
                    f"{array_text(np.asarray(array))})"
                ),
            )
        return serving_error


def is_client_error(error):
    return isinstance(error, ServingError) and error.http_status < 500
