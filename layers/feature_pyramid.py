"""Feature pyramid network (FPN), with extra coarser levels as in RetinaNet and FCOS."""

import keras
from keras import ops

from layers import _utils


@keras.saving.register_keras_serializable(package="kapps")
class FeaturePyramid(keras.layers.Layer):
    """Feature pyramid network (Lin et al., 2017), as used by RetinaNet and FCOS.

    Takes backbone feature maps of decreasing resolution (each half the size of
    the one before, e.g. strides 8, 16, 32) and returns maps of the same
    resolutions, all with `filters` channels, in which fine levels also carry the
    semantics of coarse ones: each input is projected by a 1x1 convolution
    (lateral connection), the coarser result is upsampled (nearest, 2x) and
    added, top-down, and each sum is smoothed by a 3x3 convolution. With
    `extra_levels` > 0, coarser levels are appended, each a stride-2 3x3
    convolution of the previous one (after ReLU from the second on), as
    RetinaNet's P6/P7. Spatial sizes may be odd: the upsampled map is cropped to
    the finer one. channels_last.

    Args:
        filters: int. Channels of every output level.
        extra_levels: int >= 0. Coarser levels appended after the inputs' levels.
        kernel_initializer: Initializer for the convolution kernels.
        kernel_regularizer: Optional regularizer for the kernels.
        **kwargs: Base `keras.layers.Layer` arguments.

    Call arguments:
        inputs: list of float tensors `(batch, height_i, width_i, channels_i)`,
            finest first, each level's height and width `ceil` of half the
            previous one.

    Returns:
        List of `len(inputs) + extra_levels` tensors
        `(batch, height_i, width_i, filters)`, finest first.

    Example:

    >>> c3, c4, c5 = keras.Input((32, 32, 8)), keras.Input((16, 16, 16)), keras.Input((8, 8, 32))
    >>> levels = FeaturePyramid(24, extra_levels=1)([c3, c4, c5])
    >>> [tuple(level.shape) for level in levels]
    [(None, 32, 32, 24), (None, 16, 16, 24), (None, 8, 8, 24), (None, 4, 4, 24)]
    """

    def __init__(self, filters, extra_levels=0, kernel_initializer="he_normal", kernel_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.filters = _utils.check_positive_int("filters", filters)
        if isinstance(extra_levels, bool) or not isinstance(extra_levels, int) or extra_levels < 0:
            raise ValueError(f"`extra_levels` must be an integer >= 0. Received: extra_levels={extra_levels!r}")
        self.extra_levels = extra_levels
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

    def _conv(self, kernel_size, name, strides=1):
        return keras.layers.Conv2D(
            self.filters,
            kernel_size,
            strides=strides,
            padding="same",
            kernel_initializer=_utils.clone_initializer(self.kernel_initializer),
            kernel_regularizer=self.kernel_regularizer,
            dtype=self.dtype_policy,
            name=name,
        )

    @staticmethod
    def _check_shapes(input_shape):
        if (
            not isinstance(input_shape, (list, tuple))
            or not input_shape
            or not all(isinstance(shape, (list, tuple)) for shape in input_shape)
        ):
            raise ValueError(
                f"`FeaturePyramid` expects a list of feature maps, finest first. Received: input_shape={input_shape}"
            )
        for shape in input_shape:
            if len(shape) != 4:
                raise ValueError(
                    "`FeaturePyramid` expects inputs of rank 4 (batch, height, width, channels). "
                    f"Received: input_shape={tuple(shape)}"
                )
            _utils.check_last_dim(FeaturePyramid.__name__, shape)

    def build(self, input_shape):
        self._check_shapes(input_shape)
        self.lateral_convs, self.output_convs, self.extra_convs = [], [], []
        for index, shape in enumerate(input_shape):
            lateral = self._conv(1, f"lateral{index}")
            lateral.build(shape)
            smooth = self._conv(3, f"output{index}")
            smooth.build((*shape[:-1], self.filters))
            self.lateral_convs.append(lateral)
            self.output_convs.append(smooth)
        shape = (*input_shape[-1][:-1], self.filters)
        for index in range(self.extra_levels):
            conv = self._conv(3, f"extra{index}", strides=2)
            conv.build(shape)
            self.extra_convs.append(conv)
            shape = conv.compute_output_shape(shape)
        self.built = True

    def call(self, inputs):
        laterals = [conv(features) for conv, features in zip(self.lateral_convs, inputs)]
        merged = [laterals[-1]]
        for lateral in reversed(laterals[:-1]):
            coarser = ops.repeat(ops.repeat(merged[0], 2, axis=1), 2, axis=2)
            height, width = ops.shape(lateral)[1], ops.shape(lateral)[2]
            merged.insert(0, lateral + coarser[:, :height, :width, :])
        outputs = [conv(features) for conv, features in zip(self.output_convs, merged)]
        previous = outputs[-1]
        for index, conv in enumerate(self.extra_convs):
            previous = conv(previous if index == 0 else ops.relu(previous))
            outputs.append(previous)
        return outputs

    def compute_output_shape(self, input_shape):
        self._check_shapes(input_shape)
        shapes = [(*shape[:-1], self.filters) for shape in input_shape]
        shape = shapes[-1]
        for _ in range(self.extra_levels):
            shape = (shape[0], *(None if size is None else -(-size // 2) for size in shape[1:3]), self.filters)
            shapes.append(shape)
        return shapes

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "extra_levels": self.extra_levels,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            }
        )
        return config
