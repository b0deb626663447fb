"""Private building blocks shared by the convolutional residual blocks."""

import math

import keras

from layers import _utils

_CONV = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D}


class ConvBlockBase(keras.layers.Layer):
    """Arguments, sublayer factories and shape logic of conv blocks.

    All convolutions are `padding="same"`, bias-free and followed by
    `BatchNormalization`; data is channels_last.
    """

    rank = 2

    def __init__(
        self,
        filters,
        strides=1,
        activation="relu",
        epsilon=1e-3,
        momentum=0.99,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _utils.check_positive_int("filters", filters)
        self.strides = _utils.check_strides("strides", strides)
        self.activation = keras.activations.get(activation)
        self.epsilon = _utils.check_positive_float("epsilon", epsilon)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"`momentum` must be in [0, 1). Received: momentum={momentum!r}")
        self.momentum = float(momentum)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    # -- sublayer factories -------------------------------------------------
    def _conv(self, filters, kernel_size, strides, name):
        return _CONV[self.rank](
            filters,
            kernel_size,
            strides=strides,
            padding="same",
            use_bias=False,
            kernel_initializer=_utils.clone_initializer(self.kernel_initializer),
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def _batch_norm(self, name):
        return keras.layers.BatchNormalization(
            epsilon=self.epsilon,
            momentum=self.momentum,
            dtype=self.dtype_policy,
            name=name,
        )

    @staticmethod
    def _build_chain(layers_and_shapes):
        """Builds `(layer, input_shape)` pairs; returns the last output shape."""
        shape = None
        for layer, input_shape in layers_and_shapes:
            layer.build(input_shape)
            shape = layer.compute_output_shape(input_shape)
        return shape

    def _check_input_shape(self, input_shape):
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"`{type(self).__name__}` expects inputs of rank "
                f"{self.rank + 2} (batch, {'spatial..., ' * self.rank}"
                f"channels). Received: input_shape={tuple(input_shape)}"
            )
        return _utils.check_last_dim(type(self).__name__, input_shape)

    def _strided_shape(self, input_shape, channels):
        spatial = [None if n is None else math.ceil(n / self.strides) for n in input_shape[1:-1]]
        return (input_shape[0], *spatial, channels)

    def _build_projection(self, input_shape, out_channels):
        """1x1 conv + BN shortcut when the stride or channels change.

        A strided 1x1 convolution reads exactly the inputs at positions
        0, s, 2s, ...; the shortcut slices those out and applies a stride-1
        1x1 convolution instead. Same weights and outputs, and it avoids a
        oneDNN crash (TensorFlow 2.21 on CPU) in the gradient of strided 1x1
        convolutions with few channels on odd batch sizes.
        """
        in_channels = input_shape[-1]
        self.projection_conv = None
        self.projection_norm = None
        if self.strides != 1 or in_channels != out_channels:
            self.projection_conv = self._conv(out_channels, 1, 1, "projection_conv")
            self.projection_norm = self._batch_norm("projection_norm")
            sliced_shape = self._strided_shape(input_shape, in_channels)
            shape = self._build_chain([(self.projection_conv, sliced_shape)])
            self.projection_norm.build(shape)

    def _shortcut(self, inputs, training):
        if self.projection_conv is None:
            return inputs
        if self.strides != 1:
            step = slice(None, None, self.strides)
            inputs = inputs[(slice(None), *([step] * self.rank), slice(None))]
        return self.projection_norm(self.projection_conv(inputs), training=training)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "strides": self.strides,
                "activation": keras.activations.serialize(self.activation),
                "epsilon": self.epsilon,
                "momentum": self.momentum,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config


class BasicResidualBlock(ConvBlockBase):
    """ResNet "basic" block for any `rank`; see `ConvResidualBlock`."""

    def __init__(self, filters, strides=1, kernel_size=3, **kwargs):
        super().__init__(filters, strides=strides, **kwargs)
        self.kernel_size = _utils.check_positive_int("kernel_size", kernel_size)

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.conv1 = self._conv(self.filters, self.kernel_size, self.strides, "conv1")
        self.norm1 = self._batch_norm("norm1")
        self.conv2 = self._conv(self.filters, self.kernel_size, 1, "conv2")
        self.norm2 = self._batch_norm("norm2")
        shape = self._build_chain([(self.conv1, input_shape)])
        self.norm1.build(shape)
        self._build_chain([(self.conv2, shape)])
        self.norm2.build(shape)
        self._build_projection(input_shape, self.filters)
        self.built = True

    def _residual_branch(self, inputs, training, mask=None):
        x = self.conv1(inputs)
        x = self.activation(self.norm1(x, training=training, mask=mask))
        x = _utils.apply_sequence_mask(x, mask)
        x = self.conv2(x)
        return self.norm2(x, training=training, mask=mask)

    def call(self, inputs, training=None):
        branch = self._residual_branch(inputs, training)
        return self.activation(branch + self._shortcut(inputs, training))

    def compute_output_shape(self, input_shape):
        return self._strided_shape(input_shape, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update({"kernel_size": self.kernel_size})
        return config


def downsample_mask(mask, strides):
    """The mask of a `padding="same"` strided 1D conv output."""
    if mask is None or strides == 1:
        return mask
    return mask[:, ::strides]
