"""Multiplicative (Luong) attention."""

import math

import keras
from keras import ops

from layers import _utils
from layers._attention_base import QueryValueAttention

SCORES = ("dot", "general", "scaled")


@keras.saving.register_keras_serializable(package="kapps")
class LuongAttention(QueryValueAttention):
    """Multiplicative attention of Luong et al. (2015).

    The score between a query `q` and a key `k` is

    * `"dot"`: `q . k`
    * `"general"`: `q^T W k` with a learned `W` of shape `(dq, dk)`
    * `"scaled"`: `q . k / sqrt(dk)` (scaled dot product)

    The weights are the softmax of the scores over the value steps and the
    output is the weighted sum of the values. Padded value steps (value mask
    False) get zero weight.

    Args:
        score: one of `"dot"`, `"general"`, `"scaled"`.
        dropout: float in [0, 1). Dropout on the attention weights
            (training only).
        kernel_initializer: Initializer for `W` (`"general"` only).
        kernel_regularizer: Optional regularizer for `W`.
        seed: int or None. Seed for the dropout.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: list `[query, value]` or `[query, value, key]`. `query` has
            shape `(batch, Tq, dq)` or `(batch, dq)`; `value` (and `key`,
            default `value`) `(batch, Tv, dv)` / `(batch, Tv, dk)`. `"dot"`
            and `"scaled"` need `dq == dk`.
        mask: optional list `[query_mask, value_mask]` of boolean tensors.
            The value mask hides padding; the query mask is propagated.
        training: bool. Whether dropout is active.
        return_attention_scores: bool. Also return the attention weights,
            `(batch, Tq, Tv)` (or `(batch, Tv)` for a rank-2 query).

    Returns:
        The context, `(batch, Tq, dv)` or `(batch, dv)`, and the weights when
        requested.

    Example:

    >>> attention = LuongAttention(score="general")
    >>> decoder = keras.ops.ones((2, 3, 8))
    >>> encoder = keras.ops.ones((2, 5, 16))
    >>> tuple(attention([decoder, encoder]).shape)
    (2, 3, 16)
    """

    def __init__(
        self,
        score="dot",
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.score = _utils.check_choice("score", score, SCORES)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def build(self, input_shape):
        query_shape, _, key_shape = self._unpack_shapes(input_shape)
        query_dim, key_dim = query_shape[-1], key_shape[-1]
        if key_dim is None or query_dim is None:
            raise ValueError(
                "`LuongAttention` needs defined feature dimensions. Received: "
                f"query.shape={query_shape}, key.shape={key_shape}"
            )
        if self.score != "general" and query_dim != key_dim:
            raise ValueError(
                f'`LuongAttention(score="{self.score}")` needs query and key '
                'of the same feature size; use score="general" otherwise. '
                f"Received: query.shape={query_shape}, key.shape={key_shape}"
            )
        self.query_dense = None
        if self.score == "general":
            self.query_dense = keras.layers.Dense(
                key_dim,
                use_bias=False,
                kernel_initializer=_utils.clone_initializer(self.kernel_initializer),
                kernel_regularizer=self.kernel_regularizer,
                dtype=self.dtype_policy,
                name="general_kernel",
            )
            self.query_dense.build(query_shape)
        self._scale = 1.0 / math.sqrt(float(key_dim))
        self._build_common()
        self.built = True

    def _score(self, query, key):
        if self.query_dense is not None:
            query = self.query_dense(query)
        scores = ops.matmul(query, ops.swapaxes(ops.cast(key, query.dtype), 1, 2))
        if self.score == "scaled":
            scores = ops.multiply(scores, ops.cast(self._scale, scores.dtype))
        return scores

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "score": self.score,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
