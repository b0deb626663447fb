"""Rotary position embedding (RoPE)."""

import keras
from keras import ops

from layers import _utils


@keras.saving.register_keras_serializable(package="kapps")
class RotaryEmbedding(keras.layers.Layer):
    """Rotary position embedding of Su et al. (2021), "RoFormer".

    Rotates pairs of features by a position-dependent angle so that the dot
    product of a rotated query at position `m` and a rotated key at position
    `n` depends only on `m - n`. Apply it to queries and keys (not values)
    before the attention scores. Uses the "half split" pairing: feature `j`
    is paired with feature `j + dim/2`, with angle
    `pos / scaling_factor * max_wavelength^(-2j/dim)`. No weights; the input
    mask is passed through.

    Args:
        max_wavelength: float > 0. Base of the wavelengths (10000 in RoPE).
        scaling_factor: float > 0. Positions are divided by it (linear
            position interpolation for longer contexts).
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: tensor `(batch, length, dim)` or `(batch, length, heads,
            dim)` with an even `dim`.
        start_index: int. Position of the first step. Defaults to 0.

    Returns:
        Tensor of the same shape as `inputs`.

    Example:

    >>> query = keras.ops.ones((2, 5, 4, 8))  # (batch, length, heads, dim)
    >>> tuple(RotaryEmbedding()(query).shape)
    (2, 5, 4, 8)
    """

    def __init__(self, max_wavelength=10000.0, scaling_factor=1.0, **kwargs):
        super().__init__(**kwargs)
        self.max_wavelength = _utils.check_positive_float("max_wavelength", max_wavelength)
        self.scaling_factor = _utils.check_positive_float("scaling_factor", scaling_factor)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) < 3:
            raise ValueError(
                "`RotaryEmbedding` expects inputs of shape (batch, length, "
                f"..., dim). Received: input_shape={input_shape}"
            )
        dim = _utils.check_last_dim(type(self).__name__, input_shape)
        if dim % 2:
            raise ValueError(f"`RotaryEmbedding` needs an even feature dimension. Received: input_shape={input_shape}")
        self.built = True

    def _cos_sin(self, length, dim, start_index, rank):
        exponents = ops.cast(ops.arange(0, dim, 2), "float32") / float(dim)
        inverse_frequency = ops.power(ops.cast(self.max_wavelength, "float32"), -exponents)
        positions = ops.cast(ops.arange(length), "float32") + ops.cast(start_index, "float32")
        positions = positions / self.scaling_factor
        angles = ops.einsum("t,f->tf", positions, inverse_frequency)
        # Broadcast over (batch, length, [heads...], dim / 2).
        shape = (1, -1) + (1,) * (rank - 3) + (dim // 2,)
        cos = ops.reshape(ops.cos(angles), shape)
        sin = ops.reshape(ops.sin(angles), shape)
        return cos, sin

    def call(self, inputs, start_index=0):
        dim = inputs.shape[-1]
        length = ops.shape(inputs)[1]
        cos, sin = self._cos_sin(length, dim, start_index, len(inputs.shape))
        x = ops.cast(inputs, "float32")
        first, second = x[..., : dim // 2], x[..., dim // 2 :]
        rotated = ops.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)
        return ops.cast(rotated, self.compute_dtype)

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "max_wavelength": self.max_wavelength,
                "scaling_factor": self.scaling_factor,
            }
        )
        return config
