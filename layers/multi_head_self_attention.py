"""Multi-head self-attention with a fused QKV projection."""

import math

import keras
from keras import ops

from layers import _utils


@keras.saving.register_keras_serializable(package="kapps")
class MultiHeadSelfAttention(keras.layers.Layer):
    """Multi-head scaled dot-product self-attention.

    The query, key and value projections are one fused matrix multiply
    (`inputs @ W_qkv`), attention is computed per head with batched
    matmuls, and the heads are merged by a single output projection. When
    neither attention scores nor (active) dropout are needed the attention
    can run through `keras.ops.dot_product_attention` (see
    `fused_attention`), which dispatches to the backend's fused kernel.

    Given the same weights, the result equals
    `keras.layers.MultiHeadAttention(num_heads, key_dim)(x, x)` for every
    non-padded query position (padded query rows attend to the valid keys
    here instead of being fully masked).

    Args:
        num_heads: int. Number of attention heads.
        key_dim: int. Size of each head for query and key.
        value_dim: int or None. Size of each head for value; defaults to
            `key_dim`.
        dropout: float in [0, 1). Dropout rate on the attention
            probabilities, applied in training only.
        use_causal_mask: bool. If True, position `i` only attends to
            positions `<= i` (decoder-style self-attention).
        use_bias: bool. Whether the projections use biases.
        output_dim: int or None. Size of the output features; defaults to
            the input feature size.
        fused_attention: bool or None. If True, use
            `keras.ops.dot_product_attention` when no scores are returned,
            dropout is inactive and `value_dim == key_dim`; if False, always
            use explicit einsums. None (default) picks per backend from
            `benchmarks/layers.py`: fused on PyTorch (SDPA kernel), einsum on
            TensorFlow and JAX (where the fused op was not faster on CPU).
        kernel_initializer: Initializer for the projection kernels.
        bias_initializer: Initializer for the projection biases.
        kernel_regularizer: Optional regularizer for the kernels.
        bias_regularizer: Optional regularizer for the biases.
        seed: int or None. Seed for the dropout.
        **kwargs: Base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: float tensor of shape `(batch, length, features)`.
        mask: optional boolean tensor `(batch, length)`; False marks padding.
            Padded positions are never attended to. Propagated unchanged.
        training: bool. Whether dropout is active.
        return_attention_scores: bool. If True, also return the attention
            probabilities of shape `(batch, num_heads, length, length)`.

    Returns:
        Tensor `(batch, length, output_dim)`, and the scores when requested.

    Example:

    >>> layer = MultiHeadSelfAttention(num_heads=2, key_dim=8)
    >>> x = keras.ops.ones((2, 5, 16))
    >>> y, scores = layer(x, return_attention_scores=True)
    >>> tuple(y.shape), tuple(scores.shape)
    ((2, 5, 16), (2, 2, 5, 5))
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dim=None,
        dropout=0.0,
        use_causal_mask=False,
        use_bias=True,
        output_dim=None,
        fused_attention=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_heads = _utils.check_positive_int("num_heads", num_heads)
        self.key_dim = _utils.check_positive_int("key_dim", key_dim)
        self.value_dim = _utils.check_positive_int("value_dim", value_dim, allow_none=True)
        self.dropout = _utils.check_rate("dropout", dropout)
        self.use_causal_mask = bool(use_causal_mask)
        self.use_bias = bool(use_bias)
        self.output_dim = _utils.check_positive_int("output_dim", output_dim, allow_none=True)
        self.fused_attention = None if fused_attention is None else bool(fused_attention)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.seed = seed
        self.supports_masking = True
        self._scale = 1.0 / math.sqrt(float(self.key_dim))

    @property
    def _use_fused(self):
        if self.fused_attention is None:
            return keras.backend.backend() == "torch"
        return self.fused_attention

    @property
    def _value_head_dim(self):
        return self.value_dim or self.key_dim

    def _dense(self, units, name):
        return keras.layers.Dense(
            units,
            use_bias=self.use_bias,
            kernel_initializer=_utils.clone_initializer(self.kernel_initializer),
            bias_initializer=_utils.clone_initializer(self.bias_initializer),
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        features = _utils.check_last_dim(type(self).__name__, input_shape)
        out_dim = self.output_dim or features
        qkv_units = self.num_heads * (2 * self.key_dim + self._value_head_dim)
        self.qkv_dense = self._dense(qkv_units, "qkv")
        self.qkv_dense.build(input_shape)
        self.output_dense = self._dense(out_dim, "output")
        merged = self.num_heads * self._value_head_dim
        self.output_dense.build(tuple(input_shape[:-1]) + (merged,))
        self.attention_dropout = keras.layers.Dropout(self.dropout, seed=self.seed, dtype=self.dtype_policy)
        self.built = True

    def _project_qkv(self, inputs):
        """Query, key and value `(batch, length, heads, dim)` from the fused kernel.

        Each is its own einsum over a slice of the kernel (viewed as
        `(features, heads, dim)` blocks) rather than one matmul whose output
        is sliced: slicing the weights is cheap, slicing activations (and
        concatenating their gradients) is not.
        """
        kernel = self.qkv_dense.kernel
        bias = self.qkv_dense.bias if self.use_bias else None
        features = ops.shape(kernel)[0]
        q_end = self.num_heads * self.key_dim
        bounds = (
            (0, q_end, self.key_dim),
            (q_end, 2 * q_end, self.key_dim),
            (2 * q_end, None, self._value_head_dim),
        )
        projections = []
        for start, end, head_dim in bounds:
            block = ops.reshape(kernel[:, start:end], (features, self.num_heads, head_dim))
            x = ops.einsum("bld,dhk->blhk", inputs, block)
            if bias is not None:
                x = x + ops.reshape(bias[start:end], (self.num_heads, head_dim))
            projections.append(x)
        return tuple(projections)

    def _attention_mask(self, mask, length):
        """Boolean mask broadcastable to (batch, heads, query, key)."""
        attention_mask = None
        if mask is not None:
            attention_mask = ops.cast(mask, "bool")[:, None, None, :]
        if self.use_causal_mask:
            causal = _utils.causal_mask(length)[None, None, :, :]
            attention_mask = causal if attention_mask is None else ops.logical_and(attention_mask, causal)
        return attention_mask

    def _explicit_attention(self, query, key, value, attention_mask, training):
        query = ops.multiply(query, ops.cast(self._scale, query.dtype))
        scores = ops.einsum("bqhd,bkhd->bhqk", query, key)
        probs = _utils.masked_softmax(scores, attention_mask, axis=-1)
        dropped = self.attention_dropout(probs, training=training)
        context = ops.einsum("bhqk,bkhd->bqhd", dropped, value)
        return context, probs

    def _fused_attention(self, query, key, value, mask):
        if mask is None:
            return ops.dot_product_attention(
                query,
                key,
                value,
                scale=self._scale,
                is_causal=self.use_causal_mask,
            )
        return ops.dot_product_attention(
            query,
            key,
            value,
            mask=self._attention_mask(mask, ops.shape(query)[1]),
            scale=self._scale,
        )

    def call(self, inputs, mask=None, training=None, return_attention_scores=False):
        query, key, value = self._project_qkv(inputs)
        dropout_active = self.dropout > 0.0 and bool(training)
        if (
            self._use_fused
            and self._value_head_dim == self.key_dim
            and not return_attention_scores
            and not dropout_active
        ):
            context = self._fused_attention(query, key, value, mask)
            scores = None
        else:
            attention_mask = self._attention_mask(mask, ops.shape(inputs)[1])
            context, scores = self._explicit_attention(query, key, value, attention_mask, training)
        batch, length = ops.shape(context)[0], ops.shape(context)[1]
        merged = ops.reshape(context, (batch, length, self.num_heads * self._value_head_dim))
        outputs = self.output_dense(merged)
        if return_attention_scores:
            return outputs, scores
        return outputs

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        out_dim = self.output_dim or input_shape[-1]
        return tuple(input_shape[:-1]) + (out_dim,)

    def compute_output_spec(self, inputs, mask=None, training=None, return_attention_scores=False):
        output = keras.KerasTensor(self.compute_output_shape(inputs.shape), dtype=self.compute_dtype)
        if not return_attention_scores:
            return output
        batch, length = inputs.shape[0], inputs.shape[1]
        scores = keras.KerasTensor((batch, self.num_heads, length, length), dtype=self.compute_dtype)
        return output, scores

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "key_dim": self.key_dim,
                "value_dim": self.value_dim,
                "dropout": self.dropout,
                "use_causal_mask": self.use_causal_mask,
                "use_bias": self.use_bias,
                "output_dim": self.output_dim,
                "fused_attention": self.fused_attention,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "seed": self.seed,
            }
        )
        return config
