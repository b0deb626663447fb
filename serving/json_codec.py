"""TF Serving's JSON mapping (api_rest.md): request bodies to tensors, tensors to JSON.

Row (`instances`) and columnar (`inputs`) requests, `{"b64": ...}` binary
values, NaN/Infinity tokens, `predictions` vs `outputs` responses, `_bytes`
outputs and non-UTF-8 strings as base64, float32 written at float32
precision, tf.Example lists for classify/regress.

A large body holding one unnamed array of numbers (`{"instances": [[...], ...]}`,
optionally with a `signature_name`) is parsed in pieces of about `PIECE_BYTES`
rows: a whole 64 MB body parsed at once is a tree of tens of millions of Python
objects (several times the body's size) before it becomes one array.
"""

import base64
import binascii
import functools
import json
import math
import re

import numpy as np
import orjson

from serving.errors import ServingError, invalid_argument
from serving.servable import numpy_dtype

ROW, COLUMNAR = "row", "columnar"
PIECES_FROM_BYTES = 4 << 20  # bodies this large try the piecewise parse
PIECE_BYTES = 4 << 20
KEY_SEARCH_BYTES = 4096  # the key is looked for near the start of the body
_ARRAY_KEY = re.compile(rb'"(instances|inputs)"\s*:\s*(?=\[)')
_LEADING_BRACKETS = re.compile(rb"(?:\[\s*)+")
# Array dtypes orjson writes itself (floats at their own precision) when all values are finite.
ORJSON_DTYPES = frozenset(
    np.dtype(name)
    for name in (
        "bool",
        "int8",
        "int16",
        "int32",
        "int64",
        "uint8",
        "uint16",
        "uint32",
        "uint64",
        "float16",
        "float32",
        "float64",
    )
)


# ----- JSON text -----------------------------------------------------------------
def loads(body):
    """Parses a request body (bytes) into a JSON object; NaN/Infinity allowed.

    orjson parses strict JSON several times faster than the standard library; bodies
    it refuses (NaN/Infinity tokens, integers beyond 64 bits, syntax errors) go through
    `json`, which accepts the tokens TF Serving accepts and words the errors.
    """
    value = _loads_value(body)
    if not isinstance(value, dict):
        raise invalid_argument("JSON Value: not a JSON object. Expecting a JSON object.")
    return value


def _loads_value(body):
    try:
        return orjson.loads(body)
    except (orjson.JSONDecodeError, TypeError):
        return _loads_permissive(body)


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


def _utf8(text, where):
    """`text` as UTF-8; a lone surrogate (JSON `"\\ud800"`, which has no UTF-8 form) is the
    client's error, named by `where`."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise invalid_argument(
            f"{where}: string {_short(text)} is not valid Unicode (lone surrogate "
            f"{json.dumps(text[error.start])} at character {error.start})"
        ) from None


def _string_leaves(value, name, depth=0):
    if depth > 64:
        raise invalid_argument(f"Input '{name}': JSON value nested too deeply")
    if isinstance(value, list):
        return [_string_leaves(item, name, depth + 1) for item in value]
    if isinstance(value, str):
        return _utf8(value, f"Input '{name}'")
    if _is_b64(value):
        return _decode_b64(value)
    raise invalid_argument(
        f"Input '{name}': JSON values must be strings (or {{\"b64\": ...}} "
        f"objects) for a string tensor (got {_short(value)})"
    )


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
    if dtype.kind == "O":
        array = np.array(_string_leaves(value, name), dtype=object)
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
            f"Input '{name}': JSON values must be {wanted} for a {dtype.name} tensor (got {_short(value)})"
        )
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
    (raising if the signature does not exist); it is called once.
    """
    input_infos_for = functools.cache(input_infos_for)
    if isinstance(body, (bytes, bytearray)) and len(body) >= PIECES_FROM_BYTES:
        parsed = _parse_in_pieces(body, input_infos_for)
        if parsed is not None:
            return parsed
    request = body if isinstance(body, dict) else loads(body)
    signature_name = request.get("signature_name", "") or ""
    if not isinstance(signature_name, str):
        raise invalid_argument("'signature_name' must be a string")
    has_instances, has_inputs = "instances" in request, "inputs" in request
    if has_instances == has_inputs:
        raise invalid_argument(
            "Missing 'inputs' or 'instances' key"
            if not has_instances
            else "Not allowed to specify both 'inputs' and 'instances' keys"
        )
    infos = input_infos_for(signature_name)
    if has_instances:
        return signature_name, _parse_instances(request["instances"], infos), ROW
    return signature_name, _parse_inputs(request["inputs"], infos), COLUMNAR


def _array_span(body):
    """(key, start, end) of the array of `"instances"` or `"inputs"` in a body, when that
    array holds no strings or objects (it ends before the next `"`, `{` or `}`)."""
    match = _ARRAY_KEY.search(body, 0, KEY_SEARCH_BYTES)
    if match is None:
        return None
    start = match.end()
    end = min(
        (index for index in (body.find(b'"', start), body.find(b"{", start), body.find(b"}", start)) if index >= 0),
        default=len(body),
    )
    while end > start and body[end - 1] in b" \t\r\n,":
        end -= 1
    if body[end - 1 : end] != b"]":
        return None
    return match.group(1).decode(), start, end


def _pieces(body, start, end, boundary):
    """The array `body[start:end]` cut at `boundary` (see `_rows_and_boundary`) into JSON
    arrays of about PIECE_BYTES. A cut inside a deeper element would leave a piece
    unbalanced (invalid)."""
    view = memoryview(body)
    position, last = start + 1, end - 1  # inside the outer brackets
    while position < last:
        cut = body.find(boundary, position + PIECE_BYTES, last)
        cut = last if cut < 0 else cut + len(boundary) - 1  # at the comma
        yield b"[" + bytes(view[position:cut]) + b"]"
        position = cut + 1


def _parse_in_pieces(body, input_infos_for):
    """`parse_predict` of a large body whose one array holds numbers, a piece of the array
    at a time (the same arrays and errors), or None for any other body."""
    span = _array_span(body)
    if span is None:
        return None
    key, start, end = span
    try:
        request = orjson.loads(body[:start] + b"0" + body[end:])
    except orjson.JSONDecodeError:
        return None
    if (
        not isinstance(request, dict)
        or type(request.get(key)) is not int
        or request[key] != 0
        or set(request) - {key, "signature_name"}
    ):
        return None
    signature_name = request.get("signature_name", "") or ""
    if not isinstance(signature_name, str):
        return None
    infos = input_infos_for(signature_name)
    name = _single_name(infos)
    rows, boundary = _rows_and_boundary(body, start, end)
    array, filled = None, 0
    for piece in _pieces(body, start, end, boundary):
        try:
            value = _loads_value(piece)
        except ServingError:
            return None  # a piece that is not JSON: parse the body whole for its error
        part = to_array(value, infos[name], name)
        if array is None:
            array = np.empty((rows, *part.shape[1:]), part.dtype)
        if part.shape[1:] != array.shape[1:] or filled + len(part) > rows:
            return None  # ragged, or cut where it should not be: parsed whole for its error
        array[filled : filled + len(part)] = part
        filled += len(part)
    if array is None or filled != rows:
        return None
    return signature_name, {name: array}, ROW if key == "instances" else COLUMNAR


def _rows_and_boundary(body, start, end):
    """The top-level element count of the array `body[start:end]` (as its cuts count them)
    and the text that ends an element: a run of closing brackets as deep as the first
    element, then a comma."""
    rank = _LEADING_BRACKETS.match(body, start).group().count(b"[")
    boundary = b"]" * (rank - 1) + b","
    return body.count(boundary, start, end) + 1, boundary


def _named(value):
    return isinstance(value, dict) and not _is_b64(value)


def _info(infos, name):
    info = infos.get(name)
    if info is None:
        raise invalid_argument(f"Input '{name}' is not in the signature's inputs ({', '.join(sorted(infos))})")
    return info


def _single_name(infos):
    if len(infos) != 1:
        raise invalid_argument(
            f"The signature has {len(infos)} inputs ({', '.join(sorted(infos))}); name them "
            "(objects in 'instances', or an object for 'inputs')"
        )
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
                    f"objects with the same keys ({', '.join(sorted(names))})"
                )
        return {name: to_array([row[name] for row in instances], _info(infos, name), name) for name in names}
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
    """A tensor (an answer's output, a client's input) as a value `dumps` writes: the array itself where
    orjson writes it as TF Serving would, `json_values` otherwise."""
    array = np.asarray(array)
    if array.dtype in ORJSON_DTYPES and array.ndim and (array.dtype.kind != "f" or np.isfinite(array).all()):
        return np.ascontiguousarray(array)
    return json_values(array, name)


def json_values(array, name=""):
    """A tensor as nested lists of JSON values, as TF Serving writes them: strings as text, or as
    `{"b64": ...}` when they are not UTF-8 or the tensor's name ends in `_bytes`; float32 at its own
    precision; NaN and infinities as their tokens (for `dumps`)."""
    array = np.asarray(array)
    kind = array.dtype.kind
    if kind in ("O", "S"):
        binary = name.endswith("_bytes")
        flat = [
            _string_item(bytes(item) if not isinstance(item, str) else item.encode(), binary) for item in array.ravel()
        ]
        return np.array(flat + [None], dtype=object)[:-1].reshape(array.shape).tolist()
    if kind == "c":
        raise invalid_argument(f"Output '{name}' has a complex dtype, not representable in JSON")
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
            f"({detail}); use the columnar 'inputs' format"
        )
    if len(names) == 1:
        return {"predictions": jsonable(outputs[names[0]], names[0])}
    columns = {name: jsonable(outputs[name], name) for name in names}
    return {"predictions": [{name: columns[name][row] for name in names} for row in range(batch.pop())]}


# ----- classify / regress ---------------------------------------------------------
def _feature(name, value):
    import tensorflow as tf

    values = value if isinstance(value, list) else [value]
    if any(isinstance(item, (list, dict)) and not _is_b64(item) for item in values):
        raise invalid_argument(f"Feature '{name}': values must be a number, string or flat list")
    if all(isinstance(item, bool) for item in values) and values:
        raise invalid_argument(f"Feature '{name}': booleans are not a tf.Example type")
    if all(isinstance(item, int) and not isinstance(item, bool) for item in values):
        if any(not -(2**63) <= item < 2**63 for item in values):
            raise invalid_argument(f"Feature '{name}': integer out of int64 range")
        return tf.train.Feature(int64_list=tf.train.Int64List(value=values))
    if all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in values):
        return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))
    if all(isinstance(item, str) or _is_b64(item) for item in values):
        return tf.train.Feature(
            bytes_list=tf.train.BytesList(
                value=[_decode_b64(v) if _is_b64(v) else _utf8(v, f"Feature '{name}'") for v in values]
            )
        )
    raise invalid_argument(f"Feature '{name}': values must all be numbers or all strings")


def example_from_json(features, context=None):
    import tensorflow as tf

    if not isinstance(features, dict) or _is_b64(features):
        raise invalid_argument("Each element of 'examples' must be a JSON object of features")
    example = tf.train.Example()
    for name, value in {**(context or {}), **features}.items():
        _utf8(name, "Feature name")
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
    return signature_name, [example_from_json(item, context).SerializeToString() for item in examples]


def format_classify(result):
    """`{"result": [[[label, score], ...], ...]}` for a ClassificationResult."""
    return {
        "result": [
            [[c.label, _float(float(np.float32(c.score).astype(str)))] for c in classification.classes]
            for classification in result.classifications
        ]
    }


def format_regress(result):
    return {"result": [_float(float(np.float32(r.value).astype(str))) for r in result.regressions]}
