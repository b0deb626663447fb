"""Token embedding plus learned position embedding, with a padding mask."""

import keras
from keras import ops

from layers import _utils
from layers.position_embedding import PositionEmbedding


@keras.saving.register_keras_serializable(package="kapps")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Sums a token embedding and a learned position embedding.

    The usual input layer of a Transformer text model. With
    `mask_zero=True` token id 0 is padding: the layer emits a Keras mask
    (`token_ids != 0`) that downstream layers such as
    `TransformerEncoderBlock` and masked pooling pick up automatically.

    Args:
        vocabulary_size: int. Number of token ids (including 0).
        sequence_length: int. Maximum sequence length.
        embedding_dim: int. Size of the embeddings.
        mask_zero: bool. Whether id 0 is padding and produces a mask.
        embeddings_initializer: Initializer for the token table.
        position_initializer: Initializer for the position table.
        embeddings_regularizer: Optional regularizer for both tables.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: integer tensor `(batch, length)`, `length <= sequence_length`.

    Returns:
        Float tensor `(batch, length, embedding_dim)` with a Keras mask when
        `mask_zero=True`.

    Example:

    >>> layer = TokenAndPositionEmbedding(100, 8, 16)
    >>> ids = keras.ops.convert_to_tensor([[5, 7, 0, 0], [3, 1, 2, 9]])
    >>> tuple(layer(ids).shape)
    (2, 4, 16)
    >>> keras.ops.convert_to_numpy(layer.compute_mask(ids)).tolist()
    [[True, True, False, False], [True, True, True, True]]
    """

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        embedding_dim,
        mask_zero=True,
        embeddings_initializer="uniform",
        position_initializer="glorot_uniform",
        embeddings_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.vocabulary_size = _utils.check_positive_int("vocabulary_size", vocabulary_size)
        self.sequence_length = _utils.check_positive_int("sequence_length", sequence_length)
        self.embedding_dim = _utils.check_positive_int("embedding_dim", embedding_dim)
        self.mask_zero = bool(mask_zero)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.position_initializer = keras.initializers.get(position_initializer)
        self.embeddings_regularizer = keras.regularizers.get(embeddings_regularizer)
        self.supports_masking = self.mask_zero

    def build(self, input_shape):
        if len(input_shape) != 2:
            raise ValueError(
                "`TokenAndPositionEmbedding` expects token ids of shape "
                f"(batch, length). Received: input_shape={input_shape}"
            )
        self.token_embedding = keras.layers.Embedding(
            self.vocabulary_size,
            self.embedding_dim,
            embeddings_initializer=_utils.clone_initializer(self.embeddings_initializer),
            embeddings_regularizer=self.embeddings_regularizer,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        self.token_embedding.build(input_shape)
        self.position_embedding = PositionEmbedding(
            self.sequence_length,
            initializer=_utils.clone_initializer(self.position_initializer),
            regularizer=self.embeddings_regularizer,
            dtype=self.dtype_policy,
            name="position_embedding",
        )
        self.position_embedding.build(tuple(input_shape) + (self.embedding_dim,))
        self.built = True

    def call(self, inputs):
        tokens = self.token_embedding(inputs)
        return tokens + self.position_embedding(tokens)

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length,
                "embedding_dim": self.embedding_dim,
                "mask_zero": self.mask_zero,
                "embeddings_initializer": keras.initializers.serialize(self.embeddings_initializer),
                "position_initializer": keras.initializers.serialize(self.position_initializer),
                "embeddings_regularizer": keras.regularizers.serialize(self.embeddings_regularizer),
            }
        )
        return config
