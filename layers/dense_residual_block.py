"""Residual block of fully connected layers."""

import keras

from layers import _utils


@keras.saving.register_keras_serializable(package="kapps")
class DenseResidualBlock(keras.layers.Layer):
    """Two dense layers with a residual (skip) connection.

    `outputs = shortcut(x) + Dense(units)(Dropout(act(norm(Dense(units)(x)))))`
    where `shortcut` is the identity when the input already has `units`
    features and a bias-free linear projection otherwise. There is no
    activation after the sum, so a zeroed residual branch makes the block
    exactly the identity (or the projection). Works on `(batch, features)`
    and, position-wise, on `(batch, length, features)` (mask passed through).

    Args:
        units: int. Output features (and hidden features of the branch).
        dropout: float in [0, 1). Dropout inside the branch (training only).
        activation: Activation of the hidden layer (name or callable).
        normalization: `"layer"`, `"batch"` or None. Normalization of the
            hidden layer, applied before the activation.
        epsilon: float. Epsilon of the normalization layer.
        kernel_initializer: Initializer for the kernels.
        bias_initializer: Initializer for the biases.
        kernel_regularizer: Optional regularizer for the kernels.
        bias_regularizer: Optional regularizer for the biases.
        seed: int or None. Seed for the dropout.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `(batch, ..., features)`.
        training: bool. Whether dropout and batch statistics are in training
            mode.

    Returns:
        Tensor `(batch, ..., units)`.

    Example:

    >>> block = DenseResidualBlock(units=16, dropout=0.1)
    >>> tuple(block(keras.ops.ones((2, 10))).shape)
    (2, 16)
    """

    def __init__(
        self,
        units,
        dropout=0.0,
        activation="relu",
        normalization="layer",
        epsilon=1e-3,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = _utils.check_positive_int("units", units)
        self.dropout = _utils.check_rate("dropout", dropout)
        self.activation = keras.activations.get(activation)
        self.normalization = _utils.check_choice("normalization", normalization, _utils.NORMALIZATIONS)
        self.epsilon = _utils.check_positive_float("epsilon", epsilon)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.seed = seed
        self.supports_masking = True

    def _dense(self, name, use_bias=True):
        return keras.layers.Dense(
            self.units,
            use_bias=use_bias,
            kernel_initializer=_utils.clone_initializer(self.kernel_initializer),
            bias_initializer=_utils.clone_initializer(self.bias_initializer),
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        features = _utils.check_last_dim(type(self).__name__, input_shape)
        hidden_shape = tuple(input_shape[:-1]) + (self.units,)
        self.hidden_dense = self._dense("hidden_dense")
        self.hidden_dense.build(input_shape)
        self.norm = _utils.normalization_layer(self.normalization, self.epsilon, self.dtype_policy, "norm")
        if self.norm is not None:
            self.norm.build(hidden_shape)
        self.dropout_layer = keras.layers.Dropout(self.dropout, seed=self.seed, dtype=self.dtype_policy)
        self.output_dense = self._dense("output_dense")
        self.output_dense.build(hidden_shape)
        self.projection = None
        if features != self.units:
            self.projection = self._dense("projection", use_bias=False)
            self.projection.build(input_shape)
        self.built = True

    def _residual_branch(self, inputs, training):
        x = self.hidden_dense(inputs)
        if self.norm is not None:
            x = self.norm(x, training=training)
        x = self.activation(x)
        x = self.dropout_layer(x, training=training)
        return self.output_dense(x)

    def _shortcut(self, inputs):
        return inputs if self.projection is None else self.projection(inputs)

    def call(self, inputs, training=None):
        return self._shortcut(inputs) + self._residual_branch(inputs, training)

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "dropout": self.dropout,
                "activation": keras.activations.serialize(self.activation),
                "normalization": self.normalization,
                "epsilon": self.epsilon,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "seed": self.seed,
            }
        )
        return config
