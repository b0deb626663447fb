"""Private helpers shared by the layers: argument validation and masking.

Everything here uses `keras.ops` only so it runs on every Keras backend.
"""

import numbers

from keras import ops

NORMALIZATIONS = ("layer", "batch", None)


def check_positive_int(name, value, allow_none=False):
    """Raises `ValueError` unless `value` is a positive integer."""
    if value is None and allow_none:
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def check_rate(name, value):
    """Raises `ValueError` unless `0 <= value < 1`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be a float in [0, 1). Received: {name}={value!r}")
    return float(value)


def check_positive_float(name, value):
    """Raises `ValueError` unless `value` is a real number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value <= 0:
        raise ValueError(f"`{name}` must be a positive number. Received: {name}={value!r}")
    return float(value)


def check_choice(name, value, choices):
    """Raises `ValueError` unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}. Received: {name}={value!r}")
    return value


def check_strides(name, value):
    """Accepts a positive int (or a tuple of equal positive ints)."""
    if isinstance(value, (tuple, list)):
        if len(set(value)) != 1:
            raise ValueError(
                f"`{name}` must be a positive integer or a tuple of equal positive integers. Received: {name}={value!r}"
            )
        value = value[0]
    return check_positive_int(name, value)


def check_last_dim(layer_name, input_shape):
    """Returns the static last dimension of `input_shape` or raises."""
    if input_shape[-1] is None:
        raise ValueError(
            f"`{layer_name}` needs a defined last (feature) dimension. Received: input_shape={tuple(input_shape)}"
        )
    return int(input_shape[-1])


def check_sequence_shape(layer_name, input_shape):
    """Raises unless `input_shape` is `(batch, steps, features)`."""
    if len(input_shape) != 3:
        raise ValueError(
            f"`{layer_name}` expects inputs of shape (batch, steps, features). Received: input_shape={input_shape}"
        )


def large_negative(dtype):
    """A large negative number that is still finite in `dtype`."""
    return -3e4 if str(dtype) == "float16" else -1e9


def masked_softmax(scores, mask=None, axis=-1):
    """Softmax over `axis` where positions with `mask == False` get 0.

    The softmax is computed in float32 for half-precision inputs and cast
    back, which keeps mixed-precision training stable. A row that is fully
    masked yields a uniform distribution instead of NaN.
    """
    dtype = scores.dtype
    if str(dtype) in ("float16", "bfloat16"):
        scores = ops.cast(scores, "float32")
    if mask is not None:
        scores = ops.where(ops.cast(mask, "bool"), scores, large_negative(scores.dtype))
    return ops.cast(ops.softmax(scores, axis=axis), dtype)


def causal_mask(query_length, key_length=None):
    """A `(query_length, key_length)` lower-triangular boolean mask."""
    key_length = query_length if key_length is None else key_length
    rows = ops.expand_dims(ops.arange(query_length), -1)
    cols = ops.expand_dims(ops.arange(key_length), 0)
    return ops.greater_equal(rows, cols)


def apply_sequence_mask(x, mask):
    """Zeroes the time steps of `x` (batch, time, ...) where `mask` is False."""
    if mask is None:
        return x
    mask = ops.cast(mask, x.dtype)
    while len(mask.shape) < len(x.shape):
        mask = ops.expand_dims(mask, -1)
    return ops.multiply(x, mask)


def normalization_layer(kind, epsilon, dtype, name, axis=-1):
    """Builds a `LayerNormalization`/`BatchNormalization` or returns None."""
    from keras import layers

    if kind == "layer":
        return layers.LayerNormalization(axis=axis, epsilon=epsilon, dtype=dtype, name=name)
    if kind == "batch":
        return layers.BatchNormalization(axis=axis, epsilon=epsilon, dtype=dtype, name=name)
    return None


def clone_initializer(initializer):
    """A fresh copy of a Keras initializer (so sublayers never share state)."""
    import keras

    return keras.initializers.get(keras.initializers.serialize(initializer))
