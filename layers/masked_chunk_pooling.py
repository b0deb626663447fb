"""Masked average of each run of `pool_size` neighbouring steps."""

import keras
from keras import ops

from layers import _utils


@keras.saving.register_keras_serializable(package="kapps")
class MaskedChunkPooling(keras.layers.Layer):
    """Averages each run of `pool_size` steps, padding excluded.

    Shortens a sequence `pool_size` times before attention blocks, which cuts
    their cost by its square. The chunks start at step 0 and the last one is
    the (shorter) remainder, so a text pools to the same chunks whatever
    padding follows it. A chunk is valid (output mask True) if any of its
    steps is; a chunk without a valid step pools to zeros.

    Args:
        pool_size: int. Steps averaged into one.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: float tensor `(batch, steps, features)`.
        mask: optional boolean tensor `(batch, steps)`, True for valid steps;
            the Keras mask of `inputs` when it has one. Without a mask every
            step is valid.

    Returns:
        Tensor `(batch, ceil(steps / pool_size), features)`, with the pooled
        mask as its Keras mask when a mask came in.

    Example:

    >>> x = keras.ops.reshape(keras.ops.arange(1.0, 6.0), (1, 5, 1))
    >>> mask = keras.ops.convert_to_tensor([[True, True, True, False, False]])
    >>> pooled = MaskedChunkPooling(2)(x, mask=mask)
    >>> keras.ops.convert_to_numpy(pooled).ravel().tolist()
    [1.5, 3.0, 0.0]
    """

    def __init__(self, pool_size, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = _utils.check_positive_int("pool_size", pool_size)
        self.supports_masking = True

    def build(self, input_shape):
        _utils.check_sequence_shape("MaskedChunkPooling", input_shape)
        self.built = True

    def _windows(self, x, pool):
        """`pool` (average/max) over windows of `pool_size` from step 0.

        Appending `pool_size - 1` zeros and pooling without padding makes the
        last window the remainder, whatever the length.
        """
        x = ops.pad(x, [[0, 0], [0, self.pool_size - 1], [0, 0]])
        return pool(x, self.pool_size, strides=self.pool_size, padding="valid")

    def call(self, inputs, mask=None):
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        weights = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        # Both window means divide by the window size: their ratio is the
        # masked mean. A count is 0 or at least 1 / pool_size, and an empty
        # chunk's total is 0: the floor keeps it 0 (not 0 / 0) in float16 too.
        totals = self._windows(inputs * weights, ops.average_pool)
        counts = self._windows(weights, ops.average_pool)
        return totals / ops.maximum(counts, 0.5 / self.pool_size)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        valid = ops.expand_dims(ops.cast(mask, "float32"), -1)
        pooled = self._windows(valid, ops.max_pool)
        return ops.greater(ops.squeeze(pooled, -1), 0.0)

    def compute_output_shape(self, input_shape):
        steps = input_shape[1]
        chunks = None if steps is None else -(-steps // self.pool_size)
        return (input_shape[0], chunks, *input_shape[2:])

    def get_config(self):
        config = super().get_config()
        config.update({"pool_size": self.pool_size})
        return config
