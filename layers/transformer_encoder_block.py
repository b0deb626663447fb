"""Transformer encoder block."""

import keras

from layers import _utils
from layers._transformer_base import TransformerBlockBase


@keras.saving.register_keras_serializable(package="kapps")
class TransformerEncoderBlock(TransformerBlockBase):
    """Transformer encoder block (Vaswani et al., 2017).

    Multi-head self-attention and a position-wise feed-forward network
    (`Dense(intermediate_dim, activation) -> Dense(features)`), each wrapped
    in dropout, a residual connection and layer normalization. Post-norm
    (`norm(x + f(x))`, the original paper) by default; `norm_first=True`
    gives pre-norm (`x + f(norm(x))`), which trains more stably in deep
    stacks. Padded positions are never attended to, and the input mask is
    propagated, so masked pooling can follow.

    Args:
        num_heads: int. Number of attention heads.
        intermediate_dim: int. Hidden size of the feed-forward network.
        dropout: float in [0, 1). Dropout on attention probabilities and on
            both residual branches (training only).
        norm_first: bool. Pre-norm if True, post-norm if False.
        activation: Activation of the feed-forward network.
        layer_norm_epsilon: float. Epsilon of the layer normalizations.
        key_dim: int or None. Size of each head; defaults to
            `features // num_heads`.
        use_causal_mask: bool. Causal self-attention (for decoder-only
            models).
        kernel_initializer: Initializer for all kernels.
        bias_initializer: Initializer for all biases.
        seed: int or None. Seed for the dropouts.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `(batch, length, features)`.
        mask: boolean tensor `(batch, length)`, usually filled in by Keras
            from the previous layer (e.g. `TokenAndPositionEmbedding`).
        padding_mask: boolean tensor `(batch, length)`; if given, it is used
            instead of `mask`.
        training: bool. Whether dropout is active.
        return_attention_scores: bool. Also return the attention
            probabilities `(batch, num_heads, length, length)`.

    Returns:
        Tensor of the same shape as `inputs` (and the scores on request).

    Example:

    >>> ids = keras.Input((8,), dtype="int32")
    >>> x = TokenAndPositionEmbedding(100, 8, 16)(ids)
    >>> x = TransformerEncoderBlock(num_heads=2, intermediate_dim=32)(x)
    >>> pooled = keras.layers.GlobalAveragePooling1D()(x)  # masked mean
    >>> tuple(pooled.shape)
    (None, 16)
    """

    def __init__(
        self,
        num_heads,
        intermediate_dim,
        dropout=0.0,
        norm_first=False,
        activation="relu",
        layer_norm_epsilon=1e-5,
        key_dim=None,
        use_causal_mask=False,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        seed=None,
        **kwargs,
    ):
        super().__init__(
            num_heads,
            intermediate_dim,
            dropout=dropout,
            norm_first=norm_first,
            activation=activation,
            layer_norm_epsilon=layer_norm_epsilon,
            key_dim=key_dim,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            seed=seed,
            **kwargs,
        )
        self.use_causal_mask = bool(use_causal_mask)

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                "`TransformerEncoderBlock` expects inputs of shape (batch, "
                f"length, features). Received: input_shape={input_shape}"
            )
        hidden_dim = _utils.check_last_dim(type(self).__name__, input_shape)
        self.self_attention = self._self_attention(hidden_dim, self.use_causal_mask, "self_attention")
        self.self_attention.build(input_shape)
        self.self_attention_dropout = self._dropout("self_attention_dropout")
        self.self_attention_norm = self._layer_norm("self_attention_norm")
        self.self_attention_norm.build(input_shape)
        self._build_feedforward(input_shape)
        self.built = True

    def call(
        self,
        inputs,
        mask=None,
        padding_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        mask = padding_mask if padding_mask is not None else mask

        x, scores = self._self_attention_residual(inputs, mask, training, return_attention_scores)
        outputs = self._feedforward(x, training)
        if return_attention_scores:
            return outputs, scores
        return outputs

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(
        self,
        inputs,
        mask=None,
        padding_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        outputs = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return outputs
        batch, length = inputs.shape[0], inputs.shape[1]
        scores = keras.KerasTensor((batch, self.num_heads, length, length), dtype=self.compute_dtype)
        return outputs, scores

    def get_config(self):
        config = super().get_config()
        config.update({"use_causal_mask": self.use_causal_mask})
        return config
