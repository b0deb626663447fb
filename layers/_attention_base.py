"""Private base class for query/value ("encoder-decoder") attention layers."""

import keras
from keras import ops

from layers import _utils


class QueryValueAttention(keras.layers.Layer):
    """Shared plumbing for `BahdanauAttention` and `LuongAttention`.

    Subclasses implement `_score(query, key)` returning raw scores of shape
    `(batch, Tq, Tv)`. This class handles the input list, masks, softmax,
    dropout, the weighted sum and shape inference.
    """

    def __init__(self, dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.dropout = _utils.check_rate("dropout", dropout)
        self.seed = seed
        self.supports_masking = True

    # -- input handling -----------------------------------------------------
    def _unpack(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) not in (2, 3):
            raise ValueError(
                f"`{type(self).__name__}` expects a list [query, value] or "
                f"[query, value, key]. Received: inputs={inputs!r}"
            )
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) == 3 else value
        return query, value, key

    def _unpack_shapes(self, input_shape):
        shapes = list(input_shape)
        if len(shapes) not in (2, 3) or not isinstance(shapes[0], (list, tuple)):
            raise ValueError(
                f"`{type(self).__name__}` expects the shapes of [query, "
                f"value] or [query, value, key]. Received: "
                f"input_shape={input_shape!r}"
            )
        query_shape, value_shape = tuple(shapes[0]), tuple(shapes[1])
        key_shape = tuple(shapes[2]) if len(shapes) == 3 else value_shape
        if len(query_shape) not in (2, 3) or len(value_shape) != 3:
            raise ValueError(
                f"`{type(self).__name__}` expects query of rank 2 or 3 and "
                f"value of rank 3. Received: query.shape={query_shape}, "
                f"value.shape={value_shape}"
            )
        return query_shape, value_shape, key_shape

    def _build_common(self):
        self.attention_dropout = keras.layers.Dropout(self.dropout, seed=self.seed, dtype=self.dtype_policy)

    @staticmethod
    def _split_mask(mask):
        if mask is None:
            return None, None
        if isinstance(mask, (list, tuple)):
            query_mask = mask[0]
            value_mask = mask[1] if len(mask) > 1 else None
            return query_mask, value_mask
        raise ValueError(f"`mask` must be a list [query_mask, value_mask]. Received: mask={mask!r}")

    # -- computation --------------------------------------------------------
    def _score(self, query, key):
        raise NotImplementedError

    def call(self, inputs, mask=None, training=None, return_attention_scores=False):
        query, value, key = self._unpack(inputs)
        _, value_mask = self._split_mask(mask)
        single_query = len(query.shape) == 2
        if single_query:
            query = ops.expand_dims(query, 1)
        scores = self._score(query, key)  # (batch, Tq, Tv)
        if value_mask is not None:
            value_mask = ops.expand_dims(ops.cast(value_mask, "bool"), 1)
        weights = _utils.masked_softmax(scores, value_mask, axis=-1)
        dropped = self.attention_dropout(weights, training=training)
        context = ops.matmul(dropped, ops.cast(value, dropped.dtype))
        if single_query:
            context = ops.squeeze(context, 1)
            weights = ops.squeeze(weights, 1)
        if return_attention_scores:
            return context, weights
        return context

    def compute_mask(self, inputs, mask=None):
        query_mask, _ = self._split_mask(mask)
        if query_mask is None or len(inputs[0].shape) == 2:
            return None
        return query_mask

    def compute_output_shape(self, input_shape):
        query_shape, value_shape, _ = self._unpack_shapes(input_shape)
        return query_shape[:-1] + (value_shape[-1],)

    def compute_output_spec(self, inputs, mask=None, training=None, return_attention_scores=False):
        query, value, key = self._unpack(inputs)
        shapes = [query.shape, value.shape, key.shape]
        output = keras.KerasTensor(self.compute_output_shape(shapes), dtype=self.compute_dtype)
        if not return_attention_scores:
            return output
        scores_shape = tuple(query.shape[:-1]) + (value.shape[1],)
        return output, keras.KerasTensor(scores_shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"dropout": self.dropout, "seed": self.seed})
        return config
