"""RetinaNet's anchors, and the layer that turns per-anchor outputs into boxes."""

import math

import keras
import numpy as np
from keras import ops

from apps.detection.detection_outputs import DetectionOutputs, positions

BOX_VARIANCE = (0.1, 0.1, 0.2, 0.2)  # RetinaNet's scaling of the encoded centre and size deltas
MAX_SIZE_DELTA = math.log(1000.0 / 16.0) / BOX_VARIANCE[2]  # Detectron's cap on exp() of the size deltas


def anchor_shapes(anchor_size, anchor_scales, anchor_ratios):
    """`(height, width)` of each anchor at one position, in strides: `anchor_scales` sizes per
    octave (`anchor_size × 2^(i / anchor_scales)` strides) times each height/width ratio,
    ratio fastest."""
    shapes = []
    for scale in range(anchor_scales):
        side = anchor_size * 2.0 ** (scale / anchor_scales)
        shapes += [(side * math.sqrt(ratio), side / math.sqrt(ratio)) for ratio in anchor_ratios]
    return shapes


def anchor_boxes(image_size, strides, anchor_size, anchor_scales, anchor_ratios):
    """Every anchor `[ymin, xmin, ymax, xmax]` in input pixels, `[n, 4]` float32: level by level,
    row-major positions (`positions`), the anchors of a position last (the order of the
    model's outputs)."""
    shape = np.array(anchor_shapes(anchor_size, anchor_scales, anchor_ratios), np.float32)
    centres, position_strides = positions(image_size, strides)
    half = shape[None] * position_strides[:, None, None] / 2
    return np.concatenate([centres[:, None] - half, centres[:, None] + half], axis=-1).reshape(-1, 4)


@keras.saving.register_keras_serializable(package="kapps")
class AnchorOutputs(DetectionOutputs):
    """Per-level class logits and box deltas of every anchor → `(batch, anchors, 5 + classes)`.

    RetinaNet's decoding: each anchor's deltas (centre offsets in anchor sides, log size
    ratios, scaled by `BOX_VARIANCE`) become a box by
    `keras.utils.bounding_boxes.decode_deltas_to_boxes`. Column 4 (FCOS's centre-ness) is
    zero and unused: a RetinaNet detection scores its class probability alone. Keeps the
    same decode settings as `DetectionOutputs`.

    Args:
        image_size: the square input side in pixels.
        strides: the stride of each level, in the order of the inputs.
        anchor_size, anchor_scales, anchor_ratios: the anchors of a position (`anchor_shapes`).
        score_threshold, iou_threshold, max_detections, pre_nms_candidates, class_names: see
            `DetectionOutputs`.

    Call arguments:
        inputs: a list `[logits_0, deltas_0, logits_1, ...]`, each
            `(batch, height_l, width_l, anchors × classes | anchors × 4)`.

    Example:
        >>> layer = AnchorOutputs(64, (8, 16, 32))
        >>> inputs = [np.zeros((1, size, size, 9 * channels), "float32")
        ...           for size in (8, 4, 2) for channels in (3, 4)]
        >>> layer(inputs).shape
        (1, 756, 8)
    """

    scored_by_centreness = False

    def __init__(
        self,
        image_size,
        strides,
        anchor_size=4.0,
        anchor_scales=3,
        anchor_ratios=(0.5, 1.0, 2.0),
        score_threshold=0.3,
        iou_threshold=0.5,
        max_detections=100,
        pre_nms_candidates=300,
        class_names=(),
        **kwargs,
    ):
        super().__init__(
            image_size,
            strides,
            score_threshold,
            iou_threshold,
            max_detections,
            pre_nms_candidates,
            class_names,
            **kwargs,
        )
        self.anchor_size = float(anchor_size)
        self.anchor_scales = int(anchor_scales)
        self.anchor_ratios = tuple(float(ratio) for ratio in anchor_ratios)
        self.anchors_per_position = self.anchor_scales * len(self.anchor_ratios)
        self._anchors = anchor_boxes(
            self.image_size, self.strides, self.anchor_size, self.anchor_scales, self.anchor_ratios
        )

    def call(self, inputs):
        outputs = []
        start = 0
        for level in range(len(self.strides)):
            logits, deltas = inputs[2 * level : 2 * level + 2]
            count = ops.shape(logits)[1] * ops.shape(logits)[2] * self.anchors_per_position
            logits = ops.reshape(
                ops.cast(logits, "float32"), (-1, count, ops.shape(logits)[-1] // self.anchors_per_position)
            )
            deltas = ops.reshape(ops.cast(deltas, "float32"), (-1, count, 4))
            deltas = ops.concatenate([deltas[..., :2], ops.minimum(deltas[..., 2:], MAX_SIZE_DELTA)], axis=-1)
            anchors = ops.convert_to_tensor(self._anchors[start : start + count])
            start += count
            boxes = keras.utils.bounding_boxes.decode_deltas_to_boxes(
                anchors, deltas, "yxyx", "yxyx", variance=BOX_VARIANCE
            )
            outputs.append(ops.concatenate([boxes, ops.zeros_like(deltas[..., :1]), logits], axis=-1))
        return ops.concatenate(outputs, axis=1)

    def compute_output_shape(self, input_shape):
        count = sum(shape[1] * shape[2] for shape in input_shape[::2]) * self.anchors_per_position
        return (input_shape[0][0], count, 5 + input_shape[0][-1] // self.anchors_per_position)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "anchor_size": self.anchor_size,
                "anchor_scales": self.anchor_scales,
                "anchor_ratios": list(self.anchor_ratios),
            }
        )
        return config
