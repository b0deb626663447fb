"""Fixed sinusoidal position encoding ("Attention Is All You Need")."""

import keras
from keras import ops

from layers import _utils


def sinusoidal_table(length, dim, max_wavelength=10000.0, dtype="float32"):
    """The `(length, dim)` table of Vaswani et al. (2017), with `keras.ops`.

    `PE[pos, 2i] = sin(pos / max_wavelength^(2i/dim))` and
    `PE[pos, 2i+1] = cos(pos / max_wavelength^(2i/dim))`.
    """
    positions = ops.cast(ops.arange(length), "float32")
    channel = ops.arange(dim)
    pair_index = ops.cast(ops.floor_divide(channel, 2) * 2, "float32")
    inverse_frequency = ops.power(ops.cast(max_wavelength, "float32"), -pair_index / float(dim))
    angles = ops.expand_dims(positions, -1) * ops.expand_dims(inverse_frequency, 0)
    is_even = ops.equal(ops.mod(channel, 2), 0)
    table = ops.where(is_even, ops.sin(angles), ops.cos(angles))
    return ops.cast(table, dtype)


@keras.saving.register_keras_serializable(package="kapps")
class SinusoidalPositionEncoding(keras.layers.Layer):
    """Fixed sinusoidal position encoding of Vaswani et al. (2017).

    Returns the encoding (not the sum) broadcast to the input's shape, so
    the usual pattern is `x = x + SinusoidalPositionEncoding()(x)`:
    `PE[pos, 2i] = sin(pos / max_wavelength^(2i/d))` and
    `PE[pos, 2i+1] = cos(pos / max_wavelength^(2i/d))`. It has no weights,
    works for any sequence length, and passes the input mask through.

    Args:
        max_wavelength: float > 0. The base of the geometric progression of
            wavelengths (10000 in the paper).
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: tensor of shape `(batch, length, dim)`; only its shape is
            used.
        start_index: int. Position of the first step (useful when decoding
            step by step). Defaults to 0.

    Returns:
        Tensor of the same shape as `inputs` holding the encoding.

    Example:

    >>> x = keras.ops.zeros((2, 4, 6))
    >>> pe = SinusoidalPositionEncoding()(x)
    >>> tuple(pe.shape)
    (2, 4, 6)
    """

    def __init__(self, max_wavelength=10000.0, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = _utils.check_positive_float("max_wavelength", max_wavelength)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "`SinusoidalPositionEncoding` expects inputs of shape "
                f"(batch, length, dim). Received: input_shape={input_shape}"
            )
        _utils.check_last_dim(type(self).__name__, input_shape)
        self.built = True

    def call(self, inputs, start_index=0):
        shape = ops.shape(inputs)
        length, dim = shape[1], inputs.shape[-1]
        table = sinusoidal_table(start_index + length, dim, self.max_wavelength, self.compute_dtype)
        table = table[start_index:]
        return ops.broadcast_to(ops.expand_dims(table, 0), shape)

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config
