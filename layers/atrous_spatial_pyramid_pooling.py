"""Atrous spatial pyramid pooling (DeepLabV3)."""

import keras
from keras import ops

from layers import _utils


@keras.saving.register_keras_serializable(package="kapps")
class AtrousSpatialPyramidPooling(keras.layers.Layer):
    """Atrous spatial pyramid pooling, the context module of DeepLabV3 (Chen et al., 2017).

    Parallel branches look at the same feature map at several scales: a 1x1
    convolution, one 3x3 convolution per dilation rate, and the image-level
    features (global average pooling, a 1x1 convolution, broadcast back to every
    position). Each branch is convolution + batch normalization + activation;
    their outputs are concatenated and fused by a 1x1 convolution + batch
    normalization + activation, then dropout. Spatial size is kept (all
    convolutions are `padding="same"`, stride 1). channels_last.

    Args:
        filters: int. Output channels of every branch and of the fusion.
        dilation_rates: tuple of ints. Dilation of each 3x3 branch
            ((6, 12, 18) at output stride 16 in DeepLabV3; use smaller
            rates on small feature maps).
        dropout: float in [0, 1). Dropout after the fusion.
        activation: Activation (name or callable), "relu" by default.
        epsilon: float. Batch normalization epsilon.
        momentum: float in [0, 1). Batch normalization momentum.
        kernel_initializer: Initializer for the convolution kernels.
        kernel_regularizer: Optional regularizer for the kernels.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `(batch, height, width, channels)`.
        training: bool. Whether batch normalization uses batch statistics
            and dropout is active.

    Returns:
        Tensor `(batch, height, width, filters)`.

    Example:

    >>> inputs = keras.Input((16, 16, 32))
    >>> x = AtrousSpatialPyramidPooling(24, dilation_rates=(2, 4, 6))(inputs)
    >>> tuple(x.shape)
    (None, 16, 16, 24)
    """

    def __init__(
        self,
        filters,
        dilation_rates=(6, 12, 18),
        dropout=0.0,
        activation="relu",
        epsilon=1e-3,
        momentum=0.99,
        kernel_initializer="he_normal",
        kernel_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _utils.check_positive_int("filters", filters)
        if isinstance(dilation_rates, int) or not dilation_rates:
            raise ValueError(
                "`dilation_rates` must be a non-empty sequence of positive "
                f"integers. Received: dilation_rates={dilation_rates!r}"
            )
        self.dilation_rates = tuple(_utils.check_positive_int("dilation_rates", rate) for rate in dilation_rates)
        self.dropout = _utils.check_rate("dropout", dropout)
        self.activation = keras.activations.get(activation)
        self.epsilon = _utils.check_positive_float("epsilon", epsilon)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"`momentum` must be in [0, 1). Received: momentum={momentum!r}")
        self.momentum = float(momentum)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def _conv(self, kernel_size, dilation_rate, name):
        return keras.layers.Conv2D(
            self.filters,
            kernel_size,
            padding="same",
            dilation_rate=dilation_rate,
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

    def build(self, input_shape):
        if len(input_shape) != 4:
            raise ValueError(
                "`AtrousSpatialPyramidPooling` expects inputs of rank 4 "
                "(batch, height, width, channels). "
                f"Received: input_shape={tuple(input_shape)}"
            )
        _utils.check_last_dim(type(self).__name__, input_shape)
        branch_shape = (*input_shape[:-1], self.filters)
        self.branch_convs, self.branch_norms = [], []
        specs = [(1, 1, "branch_1x1")] + [(3, rate, f"branch_rate{rate}") for rate in self.dilation_rates]
        for kernel_size, rate, name in specs:
            conv = self._conv(kernel_size, rate, f"{name}_conv")
            norm = self._batch_norm(f"{name}_norm")
            conv.build(input_shape)
            norm.build(branch_shape)
            self.branch_convs.append(conv)
            self.branch_norms.append(norm)
        pooled_shape = (input_shape[0], 1, 1, input_shape[-1])
        self.pooling_conv = self._conv(1, 1, "pooling_conv")
        self.pooling_norm = self._batch_norm("pooling_norm")
        self.pooling_conv.build(pooled_shape)
        self.pooling_norm.build((input_shape[0], 1, 1, self.filters))
        concatenated = (*input_shape[:-1], self.filters * (len(self.branch_convs) + 1))
        self.fusion_conv = self._conv(1, 1, "fusion_conv")
        self.fusion_norm = self._batch_norm("fusion_norm")
        self.fusion_conv.build(concatenated)
        self.fusion_norm.build(branch_shape)
        self.fusion_dropout = keras.layers.Dropout(self.dropout, dtype=self.dtype_policy, name="fusion_dropout")
        self.built = True

    def _image_pooling(self, inputs, like, training):
        pooled = ops.mean(inputs, axis=(1, 2), keepdims=True)
        pooled = self.pooling_norm(self.pooling_conv(pooled), training=training)
        # Broadcast the (batch, 1, 1, filters) image features to every position.
        return self.activation(pooled) * ops.ones_like(like[..., :1])

    def call(self, inputs, training=None):
        outputs = [
            self.activation(norm(conv(inputs), training=training))
            for conv, norm in zip(self.branch_convs, self.branch_norms)
        ]
        outputs.append(self._image_pooling(inputs, outputs[0], training))
        fused = self.fusion_conv(ops.concatenate(outputs, axis=-1))
        fused = self.activation(self.fusion_norm(fused, training=training))
        return self.fusion_dropout(fused, training=training)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "dilation_rates": list(self.dilation_rates),
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "epsilon": self.epsilon,
                "momentum": self.momentum,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
