"""FCOS's positions, and the layer that turns per-position outputs into boxes."""

import math

import keras
import numpy as np
from keras import ops


def positions(image_size, strides):
    """`(centres [n, 2] as (y, x) pixels, stride [n])` of every position, level by level,
    row-major: the order of the model's outputs."""
    centres, per_position = [], []
    for stride in strides:
        cells = math.ceil(image_size / stride)
        rows, columns = np.meshgrid(np.arange(cells), np.arange(cells), indexing="ij")
        centres.append(np.stack([rows.ravel(), columns.ravel()], axis=-1) * stride + stride / 2)
        per_position.append(np.full(cells * cells, stride))
    return np.concatenate(centres).astype(np.float32), np.concatenate(per_position).astype(np.float32)


@keras.saving.register_keras_serializable(package="kapps")
class DetectionOutputs(keras.layers.Layer):
    """Per-level class logits, raw box distances and centre-ness → `(batch, positions, 5 + classes)`.

    Distances are `softplus(raw) * stride` pixels from each position's centre to the
    box's top, left, bottom and right; the layer also keeps the decode settings that
    `decode` and the export read (score and IoU thresholds, detections per image).

    Args:
        image_size: the square input side in pixels.
        strides: the stride of each level, in the order of the inputs.
        score_threshold, iou_threshold, max_detections, pre_nms_candidates: see `decode`.
        class_names: the classes' names, in class-id order (the export answers them).

    Call arguments:
        inputs: a list `[logits_0, distances_0, centreness_0, logits_1, ...]`, each
            `(batch, height_l, width_l, classes | 4 | 1)`.
    """

    scored_by_centreness = True  # `decode` scores √(class probability × centre-ness)

    def __init__(
        self,
        image_size,
        strides,
        score_threshold=0.3,
        iou_threshold=0.5,
        max_detections=100,
        pre_nms_candidates=300,
        class_names=(),
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.class_names = tuple(str(name) for name in class_names)
        self.image_size = int(image_size)
        self.strides = tuple(int(stride) for stride in strides)
        self.score_threshold = float(score_threshold)
        self.iou_threshold = float(iou_threshold)
        self.max_detections = int(max_detections)
        self.pre_nms_candidates = int(pre_nms_candidates)
        centres, _ = positions(self.image_size, self.strides)
        self._centres = centres

    def call(self, inputs):
        outputs = []
        start = 0
        for level, stride in enumerate(self.strides):
            logits, raw, centreness = inputs[3 * level : 3 * level + 3]
            count = ops.shape(logits)[1] * ops.shape(logits)[2]
            logits = ops.reshape(ops.cast(logits, "float32"), (-1, count, ops.shape(logits)[-1]))
            distances = ops.softplus(ops.reshape(ops.cast(raw, "float32"), (-1, count, 4))) * float(stride)
            centreness = ops.reshape(ops.cast(centreness, "float32"), (-1, count, 1))
            centres = ops.convert_to_tensor(self._centres[start : start + count])[None]
            start += count
            top_left = centres - distances[..., :2]  # (y - top, x - left)
            bottom_right = centres + distances[..., 2:]
            outputs.append(ops.concatenate([top_left, bottom_right, centreness, logits], axis=-1))
        return ops.concatenate(outputs, axis=1)

    def compute_output_shape(self, input_shape):
        count = sum(shape[1] * shape[2] for shape in input_shape[::3])
        return (input_shape[0][0], count, 5 + input_shape[0][-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "strides": list(self.strides),
                "score_threshold": self.score_threshold,
                "iou_threshold": self.iou_threshold,
                "max_detections": self.max_detections,
                "pre_nms_candidates": self.pre_nms_candidates,
                "class_names": list(self.class_names),
            }
        )
        return config
