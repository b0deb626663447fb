"""Mean and max over the valid (unpadded) steps of a sequence."""

import keras
from keras import ops

from layers import _utils


@keras.saving.register_keras_serializable(package="kapps")
class MaskedMeanMaxPooling(keras.layers.Layer):
    """Concatenates the mean and the max over the valid steps of a sequence.

    Padded steps (mask False) count in neither, so a text pools to the same
    vector whatever padding follows it. A sequence without any valid step (an
    empty text) pools to zeros. The mask is consumed.

    Args:
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `(batch, steps, features)`.
        mask: optional boolean tensor `(batch, steps)`, True for valid steps;
            the Keras mask of `inputs` when it has one. Without a mask every
            step is valid.

    Returns:
        Tensor `(batch, 2 * features)`: the mean, then the max.

    Example:

    >>> x = keras.ops.convert_to_tensor([[[1.0], [3.0], [100.0]]])
    >>> mask = keras.ops.convert_to_tensor([[True, True, False]])
    >>> pooled = MaskedMeanMaxPooling()(x, mask=mask)
    >>> keras.ops.convert_to_numpy(pooled).tolist()
    [[2.0, 3.0]]
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape):
        _utils.check_sequence_shape("MaskedMeanMaxPooling", input_shape)
        self.built = True

    def call(self, inputs, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        counts = ops.sum(weights, axis=1)
        mean = ops.sum(inputs * weights, axis=1) / ops.maximum(counts, 1.0)
        lowest = ops.cast(ops.min(inputs), inputs.dtype) - 1.0
        maximum = ops.max(ops.where(weights > 0, inputs, lowest), axis=1)
        maximum = ops.where(counts > 0, maximum, ops.zeros_like(maximum))
        return ops.concatenate([mean, maximum], axis=-1)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        features = input_shape[-1]
        return (input_shape[0], None if features is None else 2 * features)
