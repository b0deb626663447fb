"""MobileNetV2 inverted residual block."""

import keras

from layers import _utils
from layers._conv_blocks import ConvBlockBase


@keras.saving.register_keras_serializable(package="kapps")
class InvertedResidualBlock(ConvBlockBase):
    """MobileNetV2 inverted residual block (Sandler et al., 2018).

    `1x1 conv (in_channels * expansion) -> BN -> relu6 -> kxk depthwise
    conv (stride) -> BN -> relu6 -> 1x1 conv (filters) -> BN` with a linear
    bottleneck (no activation at the end). The input is added back only when
    `strides == 1` and the input has `filters` channels; MobileNetV2 has no
    projection shortcut. With `expansion=1` the first 1x1 conv is skipped.
    channels_last.

    Args:
        filters: int. Output channels.
        strides: int. Stride of the depthwise convolution.
        expansion: int. Expansion factor of the hidden channels (6 in
            MobileNetV2).
        kernel_size: int. Size of the depthwise convolution.
        activation: Activation (name or callable), "relu6" by default.
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

    >>> block = InvertedResidualBlock(filters=8, expansion=6)
    >>> tuple(block(keras.ops.ones((2, 8, 8, 8))).shape)
    (2, 8, 8, 8)
    """

    def __init__(self, filters, strides=1, expansion=6, kernel_size=3, activation="relu6", **kwargs):
        super().__init__(filters, strides=strides, activation=activation, **kwargs)
        self.expansion = _utils.check_positive_int("expansion", expansion)
        self.kernel_size = _utils.check_positive_int("kernel_size", kernel_size)

    def build(self, input_shape):
        in_channels = self._check_input_shape(input_shape)
        hidden = in_channels * self.expansion
        shape = input_shape
        self.expand_conv = None
        self.expand_norm = None
        if self.expansion != 1:
            self.expand_conv = self._conv(hidden, 1, 1, "expand_conv")
            self.expand_norm = self._batch_norm("expand_norm")
            shape = self._build_chain([(self.expand_conv, shape)])
            self.expand_norm.build(shape)
        self.depthwise_conv = keras.layers.DepthwiseConv2D(
            self.kernel_size,
            strides=self.strides,
            padding="same",
            use_bias=False,
            depthwise_initializer=_utils.clone_initializer(self.kernel_initializer),
            depthwise_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name="depthwise_conv",
        )
        self.depthwise_norm = self._batch_norm("depthwise_norm")
        shape = self._build_chain([(self.depthwise_conv, shape)])
        self.depthwise_norm.build(shape)
        self.project_conv = self._conv(self.filters, 1, 1, "project_conv")
        self.project_norm = self._batch_norm("project_norm")
        shape = self._build_chain([(self.project_conv, shape)])
        self.project_norm.build(shape)
        self.use_residual = self.strides == 1 and in_channels == self.filters
        self.built = True

    def _residual_branch(self, inputs, training):
        x = inputs
        if self.expand_conv is not None:
            x = self.activation(self.expand_norm(self.expand_conv(x), training=training))
        x = self.activation(self.depthwise_norm(self.depthwise_conv(x), training=training))
        return self.project_norm(self.project_conv(x), training=training)

    def call(self, inputs, training=None):
        outputs = self._residual_branch(inputs, training)
        if self.use_residual:
            outputs = outputs + inputs
        return outputs

    def compute_output_shape(self, input_shape):
        return self._strided_shape(input_shape, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"expansion": self.expansion, "kernel_size": self.kernel_size})
        return config
