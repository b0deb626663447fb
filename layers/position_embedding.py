"""Learned absolute position embedding."""

import keras
from keras import ops

from layers import _utils


@keras.saving.register_keras_serializable(package="kapps")
class PositionEmbedding(keras.layers.Layer):
    """Learned position embedding (as in BERT/GPT).

    Holds a trainable `(sequence_length, dim)` table and returns its first
    `length` rows broadcast to the input's shape. Add the result to the
    token embeddings: `x = x + PositionEmbedding(sequence_length=128)(x)`.
    The input mask is passed through.

    Args:
        sequence_length: int. Maximum sequence length the table covers.
        initializer: Initializer for the table.
        regularizer: Optional regularizer for the table.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: tensor `(batch, length, dim)` with `length <= sequence_length`;
            only its shape is used.
        start_index: int. Position of the first step. Defaults to 0.

    Returns:
        Tensor of the same shape as `inputs` holding the embeddings.

    Example:

    >>> x = keras.ops.zeros((2, 4, 6))
    >>> tuple(PositionEmbedding(sequence_length=10)(x).shape)
    (2, 4, 6)
    """

    def __init__(
        self,
        sequence_length,
        initializer="glorot_uniform",
        regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.sequence_length = _utils.check_positive_int("sequence_length", sequence_length)
        self.initializer = keras.initializers.get(initializer)
        self.regularizer = keras.regularizers.get(regularizer)
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"`PositionEmbedding` expects inputs of shape (batch, length, dim). Received: input_shape={input_shape}"
            )
        length = input_shape[1]
        if length is not None and length > self.sequence_length:
            raise ValueError(
                f"Input length {length} exceeds `sequence_length="
                f"{self.sequence_length}`. Received: input_shape={input_shape}"
            )
        dim = _utils.check_last_dim(type(self).__name__, input_shape)
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, dim),
            initializer=self.initializer,
            regularizer=self.regularizer,
        )
        self.built = True

    def call(self, inputs, start_index=0):
        shape = ops.shape(inputs)
        table = ops.convert_to_tensor(self.embeddings)
        table = ops.slice(table, (start_index, 0), (shape[1], ops.shape(table)[1]))
        table = ops.cast(table, self.compute_dtype)
        return ops.broadcast_to(ops.expand_dims(table, 0), shape)

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "initializer": keras.initializers.serialize(self.initializer),
                "regularizer": keras.regularizers.serialize(self.regularizer),
            }
        )
        return config
