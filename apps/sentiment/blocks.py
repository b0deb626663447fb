"""Small masking-aware layers of the sentiment models (the attention and encoder
blocks themselves come from `layers`)."""

import keras
from keras import ops

PACKAGE = "kapps_sentiment"


def _float_mask(mask, dtype):
    return ops.expand_dims(ops.cast(mask, dtype), -1)


@keras.saving.register_keras_serializable(package=PACKAGE)
class BigramEmbedding(keras.layers.Layer):
    """Adds the embedding of the word pair starting at each position.

    The pair table may be narrower than the token embeddings (`table_dim`), with a
    linear projection up to `embedding_dim`: a large pair vocabulary then costs
    fewer parameters (and optimizer updates per step).

    Call: `layer(token_embeddings, bigram_ids)`; the mask of `token_embeddings`
    (the padding mask) passes through unchanged.
    """

    def __init__(self, vocabulary_size, embedding_dim, table_dim=None, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.embedding_dim = int(embedding_dim)
        self.table_dim = int(table_dim or embedding_dim)
        self.embedding = keras.layers.Embedding(
            self.vocabulary_size, self.table_dim, dtype=self.dtype_policy, name="bigram_table"
        )
        self.projection = None
        if self.table_dim != self.embedding_dim:
            self.projection = keras.layers.Dense(self.embedding_dim, use_bias=False,
                                                 dtype=self.dtype_policy, name="bigram_projection")
        self.supports_masking = True

    def build(self, token_embeddings_shape, bigram_ids_shape=None):
        ids_shape = bigram_ids_shape or token_embeddings_shape[:-1]
        self.embedding.build(ids_shape)
        if self.projection is not None:
            self.projection.build(tuple(ids_shape) + (self.table_dim,))
        self.built = True

    def call(self, token_embeddings, bigram_ids):
        pairs = self.embedding(bigram_ids)
        if self.projection is not None:
            pairs = self.projection(pairs)
        return token_embeddings + pairs

    def compute_output_shape(self, token_embeddings_shape, bigram_ids_shape=None):
        return tuple(token_embeddings_shape)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim, "table_dim": self.table_dim}


@keras.saving.register_keras_serializable(package=PACKAGE)
class LimitTokenIds(keras.layers.Layer):
    """Keeps the first `sequence_length` ids and maps ids ≥ `vocabulary_size` to [UNK] (1).

    Lets a model use a shorter sequence or a smaller vocabulary than the adapted
    vectorizer (the tuner searches both without re-adapting).
    """

    def __init__(self, vocabulary_size, sequence_length, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = int(sequence_length)

    def call(self, ids):
        ids = ids[:, : self.sequence_length]
        return ops.where(ops.less(ids, self.vocabulary_size), ids, ops.ones_like(ids))

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        return (input_shape[0], None if length is None else min(length, self.sequence_length))

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedChunkPooling(keras.layers.Layer):
    """Averages each run of `pool_size` positions, padding excluded.

    A chunk is valid (mask True) if any of its positions is. Shortens the sequence
    the attention blocks see by `pool_size`, which cuts their cost by its square.
    """

    def __init__(self, pool_size, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = int(pool_size)
        self.supports_masking = True

    def _windows(self, x, pool):
        """`pool` (average/max) over windows of `pool_size` starting at position 0.

        Appending `pool_size - 1` zeros and pooling without padding makes the last
        window the (shorter) remainder, whatever the length: the windows never
        depend on how much padding follows the text.
        """
        x = ops.pad(x, [[0, 0], [0, self.pool_size - 1], [0, 0]])
        return pool(x, self.pool_size, strides=self.pool_size, padding="valid")

    def call(self, inputs, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        weights = _float_mask(mask, inputs.dtype)
        # Both window means divide by the window size, so their ratio is the masked mean.
        totals = self._windows(inputs * weights, ops.average_pool)
        counts = self._windows(weights, ops.average_pool)
        return totals / ops.maximum(counts, 1e-9)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        pooled = self._windows(_float_mask(mask, "float32"), ops.max_pool)
        return ops.greater(ops.squeeze(pooled, -1), 0.0)

    def compute_output_shape(self, input_shape):
        length = None if input_shape[1] is None else -(-input_shape[1] // self.pool_size)
        return (input_shape[0], length, *input_shape[2:])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MaskedMeanMaxPooling(keras.layers.Layer):
    """Concatenates the mean and the max over the valid (unpadded) positions.

    A sequence without any valid position (an empty text) pools to zeros.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        weights = _float_mask(mask, inputs.dtype)
        counts = ops.sum(weights, axis=1)
        mean = ops.sum(inputs * weights, axis=1) / ops.maximum(counts, 1.0)
        lowest = ops.cast(ops.min(inputs), inputs.dtype) - 1.0
        maximum = ops.max(ops.where(weights > 0, inputs, lowest), axis=1)
        maximum = ops.where(counts > 0, maximum, ops.zeros_like(maximum))
        return ops.concatenate([mean, maximum], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 2 * input_shape[-1])
