"""Additive (Bahdanau) attention."""

import keras
from keras import ops

from layers import _utils
from layers._attention_base import QueryValueAttention


@keras.saving.register_keras_serializable(package="kapps")
class BahdanauAttention(QueryValueAttention):
    """Additive attention of Bahdanau et al. (2015).

    `score(q, k) = v^T tanh(W_q q + W_k k + b)`, the weights are the softmax
    of the scores over the value steps, and the output is the weighted sum
    of the values. Padded value steps (value mask False) get zero weight.

    Args:
        units: int. Size of the hidden layer inside the score function.
        use_bias: bool. Whether to add the bias `b` inside the `tanh`.
        dropout: float in [0, 1). Dropout on the attention weights
            (training only).
        kernel_initializer: Initializer for `W_q`, `W_k` and `v`.
        bias_initializer: Initializer for `b`.
        kernel_regularizer: Optional regularizer for the kernels.
        bias_regularizer: Optional regularizer for `b`.
        seed: int or None. Seed for the dropout.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: list `[query, value]` or `[query, value, key]`. `query` has
            shape `(batch, Tq, dq)` or `(batch, dq)` (e.g. a decoder state);
            `value` (and `key`, default `value`) have shape
            `(batch, Tv, dv)` / `(batch, Tv, dk)`.
        mask: optional list `[query_mask, value_mask]` of boolean tensors
            `(batch, Tq)` / `(batch, Tv)`. The value mask hides padding;
            the query mask is propagated to the output.
        training: bool. Whether dropout is active.
        return_attention_scores: bool. Also return the attention weights,
            `(batch, Tq, Tv)` (or `(batch, Tv)` for a rank-2 query).

    Returns:
        The context, `(batch, Tq, dv)` or `(batch, dv)`, and the weights when
        requested.

    Example:

    >>> attention = BahdanauAttention(units=8)
    >>> state = keras.ops.ones((2, 16))        # decoder state
    >>> encoded = keras.ops.ones((2, 5, 16))   # encoder outputs
    >>> context, weights = attention([state, encoded],
    ...                              return_attention_scores=True)
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 16), (2, 5))
    """

    def __init__(
        self,
        units,
        use_bias=True,
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.units = _utils.check_positive_int("units", units)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    def _dense(self, units, use_bias, name):
        return keras.layers.Dense(
            units,
            use_bias=use_bias,
            kernel_initializer=_utils.clone_initializer(self.kernel_initializer),
            bias_initializer=_utils.clone_initializer(self.bias_initializer),
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    def build(self, input_shape):
        query_shape, _, key_shape = self._unpack_shapes(input_shape)
        self.query_dense = self._dense(self.units, False, "query_dense")
        self.query_dense.build(query_shape)
        self.key_dense = self._dense(self.units, self.use_bias, "key_dense")
        self.key_dense.build(key_shape)
        self.score_dense = self._dense(1, False, "score_dense")
        self.score_dense.build(key_shape[:-1] + (self.units,))
        self._build_common()
        self.built = True

    def _score(self, query, key):
        projected_query = ops.expand_dims(self.query_dense(query), 2)
        projected_key = ops.expand_dims(self.key_dense(key), 1)
        hidden = ops.tanh(projected_query + projected_key)  # (b, Tq, Tv, u)
        return ops.squeeze(self.score_dense(hidden), -1)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            }
        )
        return config
