"""2D ResNet basic residual block."""

import keras

from layers._conv_blocks import BasicResidualBlock


@keras.saving.register_keras_serializable(package="kapps")
class ConvResidualBlock(BasicResidualBlock):
    """ResNet "basic" residual block for images (He et al., 2016).

    Two `kernel_size x kernel_size` convolutions, each followed by batch
    normalization, with ReLU after the first and after the residual sum:
    `act(BN(conv(act(BN(conv(x))))) + shortcut(x))`. The first convolution
    carries the stride. The shortcut is the identity, or a 1x1 convolution +
    batch normalization (projection) when the stride or the number of
    channels changes. channels_last.

    Args:
        filters: int. Output channels.
        strides: int. Stride of the first convolution (and projection).
        kernel_size: int. Size of both convolutions (3 in ResNet).
        activation: Activation (name or callable), "relu" by default.
        epsilon: float. Batch normalization epsilon.
        momentum: float in [0, 1). Batch normalization momentum.
        kernel_initializer: Initializer for the convolution kernels.
        kernel_regularizer: Optional regularizer for the kernels.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `(batch, height, width, channels)`.
        training: bool. Whether batch normalization uses batch statistics.

    Returns:
        Tensor `(batch, ceil(height / strides), ceil(width / strides),
        filters)`.

    Example:

    >>> inputs = keras.Input((28, 28, 1))
    >>> x = ConvResidualBlock(16)(inputs)
    >>> x = ConvResidualBlock(32, strides=2)(x)
    >>> tuple(x.shape)
    (None, 14, 14, 32)
    """

    rank = 2
