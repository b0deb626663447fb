"""Adds the embedding of the word pair at each position to token embeddings."""

import keras

from layers import _utils


@keras.saving.register_keras_serializable(package="kapps")
class BigramEmbedding(keras.layers.Layer):
    """Adds the embedding of the word pair (bigram) at each position.

    `bigram_ids` are aligned with the tokens: id `i` names the pair that
    starts at token `i` (`TextVectorization(ngrams=(2,))` gives them). The
    pair table may be narrower than the token embeddings (`table_dim`),
    projected linearly up to `embedding_dim`: a large pair vocabulary then
    costs fewer parameters and optimizer updates. The mask of
    `token_embeddings` (the padding) passes through unchanged.

    Args:
        vocabulary_size: int. Number of pair ids (including 0).
        embedding_dim: int. Width of the token embeddings the pairs are
            added to.
        table_dim: int or None. Width of the pair table; None (or
            `embedding_dim`) stores full-width pairs, without projection.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        token_embeddings: float tensor `(batch, length, embedding_dim)`.
        bigram_ids: integer tensor `(batch, length)`.

    Returns:
        Tensor `(batch, length, embedding_dim)`: `token_embeddings` plus the
        pair embeddings, with the Keras mask of `token_embeddings`.

    Example:

    >>> tokens = keras.ops.zeros((2, 5, 16))
    >>> pairs = keras.ops.convert_to_tensor([[3, 8, 2, 0, 0], [1, 4, 4, 9, 0]])
    >>> layer = BigramEmbedding(100, embedding_dim=16, table_dim=4)
    >>> tuple(layer(tokens, pairs).shape)
    (2, 5, 16)
    """

    def __init__(self, vocabulary_size, embedding_dim, table_dim=None, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = _utils.check_positive_int("vocabulary_size", vocabulary_size)
        self.embedding_dim = _utils.check_positive_int("embedding_dim", embedding_dim)
        self.table_dim = _utils.check_positive_int("table_dim", table_dim, allow_none=True) or self.embedding_dim
        # The attribute and sublayer names are part of the saved weights' paths.
        self.embedding = keras.layers.Embedding(
            self.vocabulary_size,
            self.table_dim,
            dtype=self.dtype_policy,
            name="bigram_table",
        )
        self.projection = None
        if self.table_dim != self.embedding_dim:
            self.projection = keras.layers.Dense(
                self.embedding_dim,
                use_bias=False,
                dtype=self.dtype_policy,
                name="bigram_projection",
            )
        self.supports_masking = True

    def build(self, token_embeddings_shape, bigram_ids_shape=None):
        if token_embeddings_shape[-1] != self.embedding_dim:
            raise ValueError(
                f"`BigramEmbedding(embedding_dim={self.embedding_dim})` "
                "expects token embeddings of that width. Received: "
                f"token_embeddings_shape={tuple(token_embeddings_shape)}"
            )
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
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "embedding_dim": self.embedding_dim,
                "table_dim": self.table_dim,
            }
        )
        return config
