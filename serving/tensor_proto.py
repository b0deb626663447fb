"""A gRPC client's TensorProtos as arrays, checked before anything is allocated.

A TensorProto declares its shape apart from its values, so a 63-byte message may declare
[200000, 28, 28]. TensorFlow fills missing values with the last one (and zeros when there is
none); here the values must match the shape, as TF Serving's tensor parsing requires of
`tensor_content`: exactly as many values as the shape holds, or one value for any shape (the
form `tf.make_tensor_proto(scalar, shape=...)` writes). The memory a request's tensors will take
is bounded by the same limit as a REST body (`--max_body_bytes`).
"""

import sys

import grpc
from tensorflow.core.framework import types_pb2

from serving.errors import ServingError, invalid_argument

# A string tensor's array holds a pointer to one Python bytes object per value.
STRING_VALUE_BYTES = 8 + sys.getsizeof(b"")
# DataType -> (the repeated field holding its values, numbers per value, bytes per value)
VALUE_FIELDS = {
    types_pb2.DT_FLOAT: ("float_val", 1, 4),
    types_pb2.DT_DOUBLE: ("double_val", 1, 8),
    types_pb2.DT_HALF: ("half_val", 1, 2),
    types_pb2.DT_BFLOAT16: ("half_val", 1, 2),
    types_pb2.DT_INT8: ("int_val", 1, 1),
    types_pb2.DT_UINT8: ("int_val", 1, 1),
    types_pb2.DT_INT16: ("int_val", 1, 2),
    types_pb2.DT_UINT16: ("int_val", 1, 2),
    types_pb2.DT_INT32: ("int_val", 1, 4),
    types_pb2.DT_QINT8: ("int_val", 1, 1),
    types_pb2.DT_QUINT8: ("int_val", 1, 1),
    types_pb2.DT_QINT16: ("int_val", 1, 2),
    types_pb2.DT_QUINT16: ("int_val", 1, 2),
    types_pb2.DT_QINT32: ("int_val", 1, 4),
    types_pb2.DT_INT64: ("int64_val", 1, 8),
    types_pb2.DT_UINT32: ("uint32_val", 1, 4),
    types_pb2.DT_UINT64: ("uint64_val", 1, 8),
    types_pb2.DT_BOOL: ("bool_val", 1, 1),
    types_pb2.DT_COMPLEX64: ("scomplex_val", 2, 8),
    types_pb2.DT_COMPLEX128: ("dcomplex_val", 2, 16),
    types_pb2.DT_STRING: ("string_val", 1, None),
}


def _dtype_name(dtype):
    name = types_pb2.DataType.Name(dtype) if dtype in types_pb2.DataType.values() else str(dtype)
    return name.removeprefix("DT_").lower()


def _shape(name, proto):
    shape = proto.tensor_shape
    if shape.unknown_rank:
        raise invalid_argument(f"Input '{name}': a tensor needs a known shape (tensor_shape.unknown_rank is set)")
    dims = [dim.size for dim in shape.dim]
    if any(size < 0 for size in dims):
        raise invalid_argument(f"Input '{name}': tensor_shape {dims} has a negative dimension")
    return dims


def _count(dims):
    count = 1
    for size in dims:
        count *= size
    return count


def tensor_bytes(name, proto):
    """The bytes `proto`'s array will take, after checking that its values match its shape."""
    if proto.dtype not in VALUE_FIELDS:
        raise invalid_argument(f"Input '{name}': unsupported dtype {_dtype_name(proto.dtype)}")
    field, numbers_per_value, item_bytes = VALUE_FIELDS[proto.dtype]
    dims = _shape(name, proto)
    count = _count(dims)
    dtype = _dtype_name(proto.dtype)
    if proto.tensor_content:
        if item_bytes is None:
            raise invalid_argument(
                f"Input '{name}': a string tensor sends its values in string_val, not tensor_content"
            )
        if len(proto.tensor_content) != count * item_bytes:
            raise invalid_argument(
                f"Input '{name}': tensor_shape {dims} holds {count} {dtype} values "
                f"({count * item_bytes} bytes) but tensor_content has {len(proto.tensor_content)} bytes"
            )
        return count * item_bytes
    values = getattr(proto, field)
    if len(values) % numbers_per_value:
        raise invalid_argument(
            f"Input '{name}': {field} holds {len(values)} numbers; a {dtype} value takes {numbers_per_value}"
        )
    present = len(values) // numbers_per_value
    if present != count and not (present == 1 and count > 1):
        raise invalid_argument(
            f"Input '{name}': tensor_shape {dims} holds {count} {dtype} values but {field} has "
            f"{present} (send all of them, or one for every position)"
        )
    if item_bytes is None:
        sizes = sum(len(value) for value in values) if present == count else count * len(values[0])
        return sizes + count * STRING_VALUE_BYTES
    return count * item_bytes


def arrays_from_tensor_protos(tensor_protos, max_bytes):
    """`{alias: ndarray}` from a PredictRequest's `inputs`, refused (before any array is made)
    when a tensor's values do not match its shape (INVALID_ARGUMENT) or the tensors would
    take more than `max_bytes` (RESOURCE_EXHAUSTED, as a REST body over the limit)."""
    import tensorflow as tf

    total = 0
    for name, proto in tensor_protos.items():
        total += tensor_bytes(name, proto)
        if total > max_bytes:
            raise ServingError(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                (
                    f"Input '{name}': the request's tensors would take {total} bytes, over the limit of "
                    f"{max_bytes} bytes (--max_body_bytes)"
                ),
            )
    arrays = {}
    for name, proto in tensor_protos.items():
        try:
            arrays[name] = tf.make_ndarray(proto)
        except Exception as error:  # noqa: BLE001 - anything else malformed in a TensorProto
            raise invalid_argument(f"Input '{name}': invalid TensorProto: {error}") from None
    return arrays
