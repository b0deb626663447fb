"""Private base for the Transformer encoder and decoder blocks."""

import keras

from layers import _utils
from layers.multi_head_self_attention import MultiHeadSelfAttention


class TransformerBlockBase(keras.layers.Layer):
    """Common arguments, sublayer factories and residual sub-block logic."""

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        norm_first=False,
        activation="relu",
        layer_norm_epsilon=1e-5,
        key_dim=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = _utils.check_positive_int("num_heads", num_heads)
        self.intermediate_dim = _utils.check_positive_int("intermediate_dim", intermediate_dim)
        self.dropout = _utils.check_rate("dropout", dropout)
        self.norm_first = bool(norm_first)
        self.activation = keras.activations.get(activation)
        self.layer_norm_epsilon = _utils.check_positive_float("layer_norm_epsilon", layer_norm_epsilon)
        self.key_dim = _utils.check_positive_int("key_dim", key_dim, allow_none=True)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed = seed
        self.supports_masking = True

    def _head_dim(self, hidden_dim):
        if self.key_dim is not None:
            return self.key_dim
        if hidden_dim % self.num_heads:
            raise ValueError(
                f"The feature size ({hidden_dim}) must be divisible by "
                f"`num_heads` ({self.num_heads}) unless `key_dim` is given. "
                f"Received: num_heads={self.num_heads}, key_dim=None"
            )
        return hidden_dim // self.num_heads

    def _initializers(self):
        return {
            "kernel_initializer": _utils.clone_initializer(self.kernel_initializer),
            "bias_initializer": _utils.clone_initializer(self.bias_initializer),
        }

    def _self_attention(self, hidden_dim, causal, name):
        return MultiHeadSelfAttention(
            self.num_heads,
            self._head_dim(hidden_dim),
            dropout=self.dropout,
            use_causal_mask=causal,
            seed=self.seed,
            dtype=self.dtype_policy,
            name=name,
            **self._initializers(),
        )

    def _layer_norm(self, name):
        return keras.layers.LayerNormalization(epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name)

    def _dropout(self, name):
        return keras.layers.Dropout(self.dropout, seed=self.seed, dtype=self.dtype_policy, name=name)

    def _build_feedforward(self, input_shape):
        hidden_dim = input_shape[-1]
        self.feedforward_intermediate = keras.layers.Dense(
            self.intermediate_dim,
            activation=self.activation,
            dtype=self.dtype_policy,
            name="feedforward_intermediate",
            **self._initializers(),
        )
        self.feedforward_intermediate.build(input_shape)
        self.feedforward_output = keras.layers.Dense(
            hidden_dim,
            dtype=self.dtype_policy,
            name="feedforward_output",
            **self._initializers(),
        )
        self.feedforward_output.build(tuple(input_shape[:-1]) + (self.intermediate_dim,))
        self.feedforward_dropout = self._dropout("feedforward_dropout")
        self.feedforward_norm = self._layer_norm("feedforward_norm")
        self.feedforward_norm.build(input_shape)

    def _residual(self, inputs, norm, dropout, sublayer, training):
        """Pre- or post-norm residual: returns (outputs, sublayer extras)."""
        x = norm(inputs) if self.norm_first else inputs
        x, extras = sublayer(x)
        x = dropout(x, training=training) + inputs
        if not self.norm_first:
            x = norm(x)
        return x, extras

    def _self_attention_residual(self, inputs, mask, training, return_attention_scores):
        """The self-attention sublayer with its residual: returns (outputs, scores or None)."""

        def attend(x):
            result = self.self_attention(
                x,
                mask=mask,
                training=training,
                return_attention_scores=return_attention_scores,
            )
            return result if return_attention_scores else (result, None)

        return self._residual(
            inputs,
            self.self_attention_norm,
            self.self_attention_dropout,
            attend,
            training,
        )

    def _feedforward(self, inputs, training):
        def sublayer(x):
            x = self.feedforward_intermediate(x)
            return self.feedforward_output(x), None

        outputs, _ = self._residual(
            inputs,
            self.feedforward_norm,
            self.feedforward_dropout,
            sublayer,
            training,
        )
        return outputs

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "intermediate_dim": self.intermediate_dim,
                "dropout": self.dropout,
                "norm_first": self.norm_first,
                "activation": keras.activations.serialize(self.activation),
                "layer_norm_epsilon": self.layer_norm_epsilon,
                "key_dim": self.key_dim,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "seed": self.seed,
            }
        )
        return config
