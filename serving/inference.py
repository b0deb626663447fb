"""Predict, Classify, Regress and metadata on a served version: the one path of REST, gRPC and warm-up.

A request's signature is looked up once (`find_signature`); its inputs are checked once, against
that lookup, before they run (`VersionEntry.run` or `submit`).
"""

import numpy as np
from tensorflow_serving.apis import classification_pb2, get_model_metadata_pb2, regression_pb2

from serving.errors import ServingError, invalid_argument
from serving.servable import CLASSIFY_METHOD, DEFAULT_SIGNATURE, REGRESS_METHOD

CLASSIFY_INPUTS = "inputs"
CLASSIFY_CLASSES = "classes"
CLASSIFY_SCORES = "scores"
REGRESS_INPUTS = "inputs"
REGRESS_OUTPUTS = "outputs"


def examples_from_input(input_proto):
    """Serialized tf.Examples of an `Input` message (context merged into each example)."""
    which = input_proto.WhichOneof("kind")
    if which == "example_list":
        examples = list(input_proto.example_list.examples)
        context = None
    elif which == "example_list_with_context":
        examples = list(input_proto.example_list_with_context.examples)
        context = input_proto.example_list_with_context.context
    else:
        raise invalid_argument("Input is empty")
    if not examples:
        raise invalid_argument("Input is empty")
    serialized = []
    for example in examples:
        if context is not None:
            merged = type(example)()
            merged.CopyFrom(context)
            merged.MergeFrom(example)
            example = merged
        serialized.append(example.SerializeToString())
    return serialized


def find_signature(entry, signature_name, rest=False):
    """`(name, SignatureDef)` of the signature a request names (None or "": `serving_default`). A
    missing one is answered as TF Serving answers it: over REST, which needs the signature to read
    the JSON body, INVALID_ARGUMENT; over gRPC, FAILED_PRECONDITION."""
    try:
        return entry.servable.signature(signature_name)
    except ServingError:
        if not rest:
            raise
        name = signature_name or DEFAULT_SIGNATURE
        raise invalid_argument(f'Serving signature name: "{name}" not found in signature def') from None


def predict(entry, signature, inputs, output_filter=(), timeout_ms=None, check=None):
    """`{output: array}` of `signature` (from `find_signature`) on `{input: array}`, in this thread."""
    return entry.run(signature, inputs, output_filter, timeout_ms, check)


def submit_predict(entry, signature, inputs, executor, timeout_ms=None):
    """`predict` as a concurrent Future, run by the batch scheduler or on `executor` (the inputs are
    checked before it returns)."""
    return entry.submit(executor, signature, inputs, timeout_ms=timeout_ms)


def _example_signature(entry, signature_name, method, kind):
    signature_name, signature = find_signature(entry, signature_name)
    if signature.method_name != method:
        raise invalid_argument(f"Expected {kind} signature method_name to be {method}. Was: {signature.method_name}")
    if list(signature.inputs) != [CLASSIFY_INPUTS]:
        raise invalid_argument(f"Expected one input Tensor named '{CLASSIFY_INPUTS}' in the {kind} signature")
    return signature_name, signature


def classify(entry, signature_name, serialized_examples):
    """A `ClassificationResult` for serialized examples on a classify signature."""
    signature_name, signature = _example_signature(
        entry, signature_name or DEFAULT_SIGNATURE, CLASSIFY_METHOD, "classification"
    )
    wanted = [name for name in (CLASSIFY_CLASSES, CLASSIFY_SCORES) if name in signature.outputs]
    if not wanted:
        raise invalid_argument("Expected classification signature outputs 'classes' and/or 'scores'")
    outputs = entry.run(
        (signature_name, signature), {CLASSIFY_INPUTS: np.array(serialized_examples, dtype=object)}, tuple(wanted)
    )
    count = len(serialized_examples)
    classes, scores = outputs.get(CLASSIFY_CLASSES), outputs.get(CLASSIFY_SCORES)
    for name, value in ((CLASSIFY_CLASSES, classes), (CLASSIFY_SCORES, scores)):
        if value is not None and (np.ndim(value) != 2 or np.shape(value)[0] != count):
            raise invalid_argument(
                f"Expected Tensor shape: [{count} num_classes] but got {list(np.shape(value))} for '{name}'"
            )
    if classes is not None and scores is not None and np.shape(classes) != np.shape(scores):
        raise invalid_argument("'classes' and 'scores' have different shapes")
    result = classification_pb2.ClassificationResult()
    width = np.shape(scores if scores is not None else classes)[1]
    for row in range(count):
        classification = result.classifications.add()
        for column in range(width):
            cls = classification.classes.add()
            if classes is not None:
                cls.label = _text(classes[row, column])
            if scores is not None:
                cls.score = float(scores[row, column])
    return signature_name, result


def regress(entry, signature_name, serialized_examples):
    """A `RegressionResult` for serialized examples on a regress signature."""
    signature_name, signature = _example_signature(
        entry, signature_name or DEFAULT_SIGNATURE, REGRESS_METHOD, "regression"
    )
    if REGRESS_OUTPUTS not in signature.outputs:
        raise invalid_argument("No output Tensor named 'outputs' in the regression signature")
    outputs = entry.run(
        (signature_name, signature), {REGRESS_INPUTS: np.array(serialized_examples, dtype=object)}, (REGRESS_OUTPUTS,)
    )
    values = np.asarray(outputs[REGRESS_OUTPUTS])
    count = len(serialized_examples)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.shape != (count,):
        raise invalid_argument(
            f"Expected output Tensor shape to be either [{count}] or "
            f"[{count}, 1] but got {list(np.shape(outputs[REGRESS_OUTPUTS]))}"
        )
    result = regression_pb2.RegressionResult()
    for value in values:
        result.regressions.add().value = float(value)
    return signature_name, result


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def signature_def_map(entry):
    result = get_model_metadata_pb2.SignatureDefMap()
    for name, signature in entry.servable.signature_defs.items():
        result.signature_def[name].CopyFrom(signature)
    return result


def metadata_response(entry):
    response = get_model_metadata_pb2.GetModelMetadataResponse()
    response.model_spec.name = entry.model_name
    response.model_spec.version.value = entry.version
    response.metadata["signature_def"].Pack(signature_def_map(entry))
    return response


def arrays_from_tensor_protos(tensor_protos, entry, signature_name):
    """`{alias: ndarray}` from a PredictRequest's `inputs` map."""
    import tensorflow as tf

    arrays = {}
    for name, proto in tensor_protos.items():
        try:
            array = tf.make_ndarray(proto)
        except Exception as error:  # noqa: BLE001 - any malformed TensorProto
            raise invalid_argument(f"Input '{name}': invalid TensorProto: {error}") from None
        arrays[name] = array
    return arrays
