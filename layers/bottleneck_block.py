"""2D ResNet bottleneck residual block."""

import keras

from layers import _utils
from layers._conv_blocks import ConvBlockBase


@keras.saving.register_keras_serializable(package="kapps")
class BottleneckBlock(ConvBlockBase):
    """ResNet-50-style bottleneck residual block (He et al., 2016).

    `1x1 conv (filters) -> BN -> act -> kxk conv (filters, stride) -> BN ->
    act -> 1x1 conv (filters * expansion) -> BN`, added to the shortcut and
    followed by the activation. The shortcut is the identity, or a 1x1
    convolution + batch normalization when the stride or the number of
    channels changes. channels_last.

    Args:
        filters: int. Channels of the bottleneck; the block outputs
            `filters * expansion` channels.
        strides: int. Stride of the middle convolution (and projection).
        expansion: int. Channel expansion of the last 1x1 convolution (4 in
            ResNet-50).
        kernel_size: int. Size of the middle convolution.
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
        filters * expansion)`.

    Example:

    >>> block = BottleneckBlock(filters=4, strides=2)
    >>> tuple(block(keras.ops.ones((2, 8, 8, 16))).shape)
    (2, 4, 4, 16)
    """

    def __init__(self, filters, strides=1, expansion=4, kernel_size=3, **kwargs):
        super().__init__(filters, strides=strides, **kwargs)
        self.expansion = _utils.check_positive_int("expansion", expansion)
        self.kernel_size = _utils.check_positive_int("kernel_size", kernel_size)

    @property
    def output_channels(self):
        return self.filters * self.expansion

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.reduce_conv = self._conv(self.filters, 1, 1, "reduce_conv")
        self.reduce_norm = self._batch_norm("reduce_norm")
        self.spatial_conv = self._conv(self.filters, self.kernel_size, self.strides, "spatial_conv")
        self.spatial_norm = self._batch_norm("spatial_norm")
        self.expand_conv = self._conv(self.output_channels, 1, 1, "expand_conv")
        self.expand_norm = self._batch_norm("expand_norm")
        shape = input_shape
        for conv, norm in (
            (self.reduce_conv, self.reduce_norm),
            (self.spatial_conv, self.spatial_norm),
            (self.expand_conv, self.expand_norm),
        ):
            shape = self._build_chain([(conv, shape)])
            norm.build(shape)
        self._build_projection(input_shape, self.output_channels)
        self.built = True

    def _residual_branch(self, inputs, training):
        x = self.activation(self.reduce_norm(self.reduce_conv(inputs), training=training))
        x = self.activation(self.spatial_norm(self.spatial_conv(x), training=training))
        return self.expand_norm(self.expand_conv(x), training=training)

    def call(self, inputs, training=None):
        branch = self._residual_branch(inputs, training)
        return self.activation(branch + self._shortcut(inputs, training))

    def compute_output_shape(self, input_shape):
        return self._strided_shape(input_shape, self.output_channels)

    def get_config(self):
        config = super().get_config()
        config.update({"expansion": self.expansion, "kernel_size": self.kernel_size})
        return config
