"""1D residual block for sequences, with mask support."""

import keras

from layers import _utils
from layers._conv_blocks import BasicResidualBlock, downsample_mask


@keras.saving.register_keras_serializable(package="kapps")
class ConvResidualBlock1D(BasicResidualBlock):
    """ResNet "basic" residual block over a sequence (e.g. text).

    The 1D counterpart of `ConvResidualBlock`:
    `act(BN(conv(act(BN(conv(x))))) + shortcut(x))` with
    `padding="same"` convolutions along the time axis and a 1x1 convolution
    + batch normalization shortcut when the stride or channels change.

    Masking: padded steps (Keras mask False) are zeroed before each
    convolution, so they never leak into valid steps, and are excluded from
    the batch-normalization statistics. The output mask is the input mask
    (subsampled by `strides`).

    Args:
        filters: int. Output channels.
        strides: int. Stride of the first convolution (and projection).
        kernel_size: int. Width of both convolutions.
        activation: Activation (name or callable), "relu" by default.
        epsilon: float. Batch normalization epsilon.
        momentum: float in [0, 1). Batch normalization momentum.
        kernel_initializer: Initializer for the convolution kernels.
        kernel_regularizer: Optional regularizer for the kernels.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `(batch, length, channels)`.
        mask: optional boolean tensor `(batch, length)`.
        training: bool. Whether batch normalization uses batch statistics.

    Returns:
        Tensor `(batch, ceil(length / strides), filters)`.

    Example:

    >>> block = ConvResidualBlock1D(filters=16, kernel_size=5)
    >>> tuple(block(keras.ops.ones((2, 8, 4))).shape)
    (2, 8, 16)
    """

    rank = 1

    def __init__(self, filters, strides=1, kernel_size=3, **kwargs):
        super().__init__(filters, strides=strides, kernel_size=kernel_size, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None, training=None):
        inputs = _utils.apply_sequence_mask(inputs, mask)
        out_mask = downsample_mask(mask, self.strides)
        branch = self._residual_branch(inputs, training, mask=out_mask)
        outputs = self.activation(branch + self._shortcut(inputs, training))
        return _utils.apply_sequence_mask(outputs, out_mask)

    def compute_mask(self, inputs, mask=None):
        return downsample_mask(mask, self.strides)
