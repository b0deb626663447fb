"""TF Serving's JSON mapping (api_rest.md): request bodies to tensors, tensors to JSON.

Row (`instances`) and columnar (`inputs`) requests, `{"b64": ...}` binary
values, NaN/Infinity tokens, `predictions` vs `outputs` responses, `_bytes`
outputs and non-UTF-8 strings as base64, float32 written at float32
precision, tf.Example lists for classify/regress.
"""

import base64
import binascii
import json
import math

import numpy as np
import orjson

from serving.errors import invalid_argument
from serving.servable import numpy_dtype

ROW, COLUMNAR = "row", "columnar"
# Array dtypes orjson writes itself (floats at their own precision) when all values are finite.
ORJSON_DTYPES = frozenset(np.dtype(name) for name in (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
    "float32", "float64"))


# ----- JSON text -----------------------------------------------------------------
def loads(body):
    """Parses a request body (bytes) into a JSON object; NaN/Infinity allowed.

    orjson parses strict JSON several times faster than the standard library; bodies
    it refuses (NaN/Infinity tokens, integers beyond 64 bits, syntax errors) go through
    `json`, which accepts the tokens TF Serving accepts and words the errors.
    """
    try:
        value = orjson.loads(body)
    except (orjson.JSONDecodeError, TypeError):
        value = _loads_permissive(body)
    if not isinstance(value, dict):
        raise invalid_argument("JSON Value: not a JSON object. Expecting a JSON object.")
    return value


def _loads_permissive(body):
    try:
        text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
        return json.loads(text)
    except UnicodeDecodeError as error:
        raise invalid_argument(f"JSON Parse error: body is not valid UTF-8 ({error.reason})") from None
    except RecursionError:
        raise invalid_argument("JSON Parse error: nesting too deep") from None
    except ValueError as error:
        raise invalid_argument(f"JSON Parse error: {error}") from None


def dumps(value):
    """JSON bytes for a response: numpy arrays written by orjson (float32 at float32
    precision), non-finite floats as the NaN/Infinity tokens TF Serving writes."""
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)


def _float(value):
    """A float for `dumps`: NaN and +/-Infinity as bare tokens (orjson would write null)."""
    if math.isfinite(value):
        return value
    return orjson.Fragment(b"NaN" if math.isnan(value) else b"Infinity" if value > 0 else b"-Infinity")


def _floats(value):
    """`_float` on every float of nested lists."""
    if isinstance(value, list):
        return [_floats(item) for item in value]
    return _float(value) if isinstance(value, float) else value


# ----- JSON values -> arrays ---------------------------------------------------------
def _is_b64(value):
    return isinstance(value, dict) and len(value) == 1 and "b64" in value


def _decode_b64(value):
    encoded = value["b64"]
    if not isinstance(encoded, str):
        raise invalid_argument("'b64' value must be a base64 string")
    try:
        return base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise invalid_argument(f"Unable to base64 decode: {encoded[:64]!r}") from None


def _string_leaves(value, depth=0):
    if depth > 64:
        raise invalid_argument("JSON value nested too deeply")
    if isinstance(value, list):
        return [_string_leaves(item, depth + 1) for item in value]
    if isinstance(value, str):
        return value.encode("utf-8")
    if _is_b64(value):
        return _decode_b64(value)
    raise invalid_argument(f"JSON Value: {_short(value)} not of type string (or a b64 object)")


def _short(value):
    text = json.dumps(value, allow_nan=True) if not isinstance(value, bytes) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _rectangular(value, name):
    """np.asarray that refuses ragged lists."""
    try:
        array = np.asarray(value)
    except ValueError:
        raise invalid_argument(
            f"Input '{name}' is a ragged (non-rectangular) list; all rows must have the same shape"
        ) from None
    return array


def to_array(value, tensor_info, name):
    """A JSON value (scalar or nested lists) as an array of the TensorInfo's dtype."""
    dtype = numpy_dtype(tensor_info)
    if dtype == object:
        array = np.array(_string_leaves(value), dtype=object)
        if any(not isinstance(item, bytes) for item in array.ravel()):
            raise invalid_argument(f"Input '{name}' is a ragged (non-rectangular) list of strings")
        return array
    array = _rectangular(value, name)
    kind = array.dtype.kind
    if kind == "f" and array.size == 0:
        kind = dtype.kind  # [] parses as float64: fine for any numeric dtype
    if dtype.kind == "b":
        if kind != "b":
            raise invalid_argument(f"Input '{name}': JSON values must be true/false for a bool tensor")
        return array
    if kind not in ("i", "u", "f") or (kind == "f" and dtype.kind in "iu"):
        wanted = "integers" if dtype.kind in "iu" else "numbers"
        raise invalid_argument(
            f"Input '{name}': JSON values must be {wanted} for a {dtype.name} tensor "
            f"(got {_short(value)})")
    if dtype.kind in "iu" and array.size:
        if array.dtype == object:  # integers too large for int64
            raise invalid_argument(f"Input '{name}': integer out of range for {dtype.name}")
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise invalid_argument(f"Input '{name}': integer out of range for {dtype.name}")
    with np.errstate(over="ignore"):
        return array.astype(dtype, copy=False)


def parse_predict(body, input_infos_for):
    """(signature_name, {alias: array}, format) from a `:predict` body.

    `input_infos_for(signature_name)` returns the signature's `{alias: TensorInfo}`
    (raising if the signature does not exist).
    """
    request = body if isinstance(body, dict) else loads(body)
    signature_name = request.get("signature_name", "") or ""
    if not isinstance(signature_name, str):
        raise invalid_argument("'signature_name' must be a string")
    has_instances, has_inputs = "instances" in request, "inputs" in request
    if has_instances == has_inputs:
        raise invalid_argument(
            "Missing 'inputs' or 'instances' key" if not has_instances else
            "Not allowed to specify both 'inputs' and 'instances' keys")
    infos = input_infos_for(signature_name)
    if has_instances:
        return signature_name, _parse_instances(request["instances"], infos), ROW
    return signature_name, _parse_inputs(request["inputs"], infos), COLUMNAR


def _named(value):
    return isinstance(value, dict) and not _is_b64(value)


def _info(infos, name):
    info = infos.get(name)
    if info is None:
        raise invalid_argument(f"Input '{name}' is not in the signature's inputs "
                               f"({', '.join(sorted(infos))})")
    return info


def _single_name(infos):
    if len(infos) != 1:
        raise invalid_argument(
            f"The signature has {len(infos)} inputs ({', '.join(sorted(infos))}); name them "
            "(objects in 'instances', or an object for 'inputs')")
    return next(iter(infos))


def _parse_instances(instances, infos):
    if not isinstance(instances, list):
        raise invalid_argument("Expecting 'instances' to be an list/array")
    if not instances:
        raise invalid_argument("'instances' is an empty list")
    if _named(instances[0]):
        names = set(instances[0])
        for index, row in enumerate(instances):
            if not _named(row) or set(row) != names:
                raise invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. All elements must be "
                    f"objects with the same keys ({', '.join(sorted(names))})")
        return {name: to_array([row[name] for row in instances], _info(infos, name), name)
                for name in names}
    name = _single_name(infos)
    if any(_named(row) for row in instances):
        raise invalid_argument("Elements of 'instances' mix objects and values")
    return {name: to_array(instances, infos[name], name)}


def _parse_inputs(inputs, infos):
    if _named(inputs):
        if not inputs:
            raise invalid_argument("'inputs' is an empty object")
        return {name: to_array(value, _info(infos, name), name) for name, value in inputs.items()}
    name = _single_name(infos)
    return {name: to_array(inputs, infos[name], name)}


# ----- arrays -> JSON values ---------------------------------------------------------
def _string_item(item, binary):
    if not binary:
        try:
            return item.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(item).decode("ascii")}


def jsonable(array, name=""):
    """An output tensor as a value `dumps` writes: the array itself where orjson writes it
    as TF Serving would, nested lists of JSON values otherwise."""
    array = np.asarray(array)
    kind = array.dtype.kind
    if kind in ("O", "S"):
        binary = name.endswith("_bytes")
        flat = [_string_item(bytes(item) if not isinstance(item, str) else item.encode(), binary)
                for item in array.ravel()]
        return np.array(flat + [None], dtype=object)[:-1].reshape(array.shape).tolist()
    if kind == "c":
        raise invalid_argument(f"Output '{name}' has a complex dtype, not representable in JSON")
    if array.dtype in ORJSON_DTYPES and array.ndim and (kind != "f" or np.isfinite(array).all()):
        return np.ascontiguousarray(array)
    if kind == "f" and array.dtype.itemsize <= 4 or array.dtype.name == "bfloat16":
        # float32 (and narrower) written at their own precision: 0.1f -> 0.1, as TF Serving does.
        return _floats(array.astype(np.float32).astype(str).astype(np.float64).tolist())
    return _floats(array.tolist())


def format_predict(outputs, fmt):
    """The `:predict` response object for `{alias: array}` in the request's format."""
    names = sorted(outputs)
    if fmt == COLUMNAR:
        if len(names) == 1:
            return {"outputs": jsonable(outputs[names[0]], names[0])}
        return {"outputs": {name: jsonable(outputs[name], name) for name in names}}
    sizes = {name: (np.shape(outputs[name])[0] if np.ndim(outputs[name]) else None) for name in names}
    batch = {size for size in sizes.values()}
    if len(batch) != 1 or None in batch:
        detail = ", ".join(f"{name}: {size}" for name, size in sizes.items())
        raise invalid_argument(
            "Tensors in the response have inconsistent or missing 0th (batch) dimensions "
            f"({detail}); use the columnar 'inputs' format")
    if len(names) == 1:
        return {"predictions": jsonable(outputs[names[0]], names[0])}
    columns = {name: jsonable(outputs[name], name) for name in names}
    return {"predictions": [{name: columns[name][row] for name in names}
                            for row in range(batch.pop())]}


# ----- classify / regress ---------------------------------------------------------
def _feature(name, value):
    import tensorflow as tf

    values = value if isinstance(value, list) else [value]
    if any(isinstance(item, (list, dict)) and not _is_b64(item) for item in values):
        raise invalid_argument(f"Feature '{name}': values must be a number, string or flat list")
    if all(isinstance(item, bool) for item in values) and values:
        raise invalid_argument(f"Feature '{name}': booleans are not a tf.Example type")
    if all(isinstance(item, int) and not isinstance(item, bool) for item in values):
        if any(not -2**63 <= item < 2**63 for item in values):
            raise invalid_argument(f"Feature '{name}': integer out of int64 range")
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    if all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))
    if all(isinstance(item, str) or _is_b64(item) for item in values):
        return tf.train.Feature(bytes_list=tf.train.BytesList(
            value=[_decode_b64(v) if _is_b64(v) else v.encode("utf-8") for v in values]))
    raise invalid_argument(f"Feature '{name}': values must all be numbers or all strings")


def example_from_json(features, context=None):
    import tensorflow as tf

    if not isinstance(features, dict) or _is_b64(features):
        raise invalid_argument("Each element of 'examples' must be a JSON object of features")
    example = tf.train.Example()
    for name, value in {**(context or {}), **features}.items():
        if context and name in context and name in features:
            raise invalid_argument(f"Feature '{name}' is in both 'context' and an example")
        example.features.feature[name].CopyFrom(_feature(name, value))
    return example


def parse_examples(body):
    """(signature_name, [serialized tf.Example]) from a `:classify`/`:regress` body."""
    request = body if isinstance(body, dict) else loads(body)
    signature_name = request.get("signature_name", "") or ""
    if not isinstance(signature_name, str):
        raise invalid_argument("'signature_name' must be a string")
    examples = request.get("examples")
    if not isinstance(examples, list) or not examples:
        raise invalid_argument("'examples' must be a non-empty list of objects")
    context = request.get("context")
    if context is not None and (not isinstance(context, dict) or _is_b64(context)):
        raise invalid_argument("'context' must be an object of features")
    return signature_name, [example_from_json(item, context).SerializeToString()
                            for item in examples]


def format_classify(result):
    """`{"result": [[[label, score], ...], ...]}` for a ClassificationResult."""
    return {"result": [[[c.label, _float(float(np.float32(c.score).astype(str)))]
                        for c in classification.classes]
                       for classification in result.classifications]}


def format_regress(result):
    return {"result": [_float(float(np.float32(r.value).astype(str))) for r in result.regressions]}
