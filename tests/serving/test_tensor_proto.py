"""TensorProtos from gRPC clients: values checked against the shape, size bounded, before allocating."""

import grpc
import numpy as np
import pytest
import tensorflow as tf

from serving.errors import ServingError
from serving.tensor_proto import STRING_VALUE_BYTES, arrays_from_tensor_protos, tensor_bytes


@pytest.mark.parametrize(
    "value",
    [
        np.ones((3, 2), np.float32),
        np.arange(6, dtype=np.int64).reshape(2, 3),
        np.array([b"ab", b""], dtype=object),
        np.array(1.5),
        np.zeros((0, 4)),
        np.array([1 + 2j], np.complex64),
        np.array([True, False]),
    ],
)
def test_tensors_as_tensorflow_writes_them_round_trip(value):
    arrays = arrays_from_tensor_protos({"x": tf.make_tensor_proto(value)}, 1 << 20)
    np.testing.assert_array_equal(arrays["x"], value)


def test_string_bytes_count_each_value_and_its_object():
    assert tensor_bytes("x", tf.make_tensor_proto([b"abc", b"de"])) == 5 + 2 * STRING_VALUE_BYTES
    assert tensor_bytes("x", tf.make_tensor_proto(b"abc", shape=[4])) == 12 + 4 * STRING_VALUE_BYTES


def test_the_limit_counts_all_inputs_together():
    protos = {"a": tf.make_tensor_proto(np.ones(200, np.float32)), "b": tf.make_tensor_proto(np.ones(200, np.float32))}
    assert set(arrays_from_tensor_protos(protos, 1600)) == {"a", "b"}
    with pytest.raises(ServingError) as caught:
        arrays_from_tensor_protos(protos, 1599)
    assert caught.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED and "1600 bytes" in caught.value.message
