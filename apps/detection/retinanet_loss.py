"""RetinaNet's IoU assignment with a focal class loss and a CIoU box loss."""

import keras
from keras import ops

from apps.detection.anchor_outputs import anchor_boxes
from apps.detection.one_stage_loss import OneStageLoss


@keras.saving.register_keras_serializable(package="kapps")
class RetinaNetLoss(OneStageLoss):
    """RetinaNet assignment, focal class loss and CIoU box loss.

    An anchor learns the object it overlaps most when that IoU is at least `positive_iou`;
    below `negative_iou` it learns background; in between it is ignored. Each object also
    keeps the anchors that overlap it best, however little (torchvision's low-quality
    matches), so no object goes unlearnt. Classes learn with Keras' binary focal
    cross-entropy over the anchors not ignored, boxes (decoded from the deltas by
    `AnchorOutputs`) with 1 − CIoU (`keras.utils.bounding_boxes.compute_ciou`), both
    normalised by the positives.

    Args:
        image_size: the square input side in pixels.
        strides: each pyramid level's stride.
        num_classes: classes of the logits.
        anchor_size, anchor_scales, anchor_ratios: the anchors of a position
            (`apps.detection.anchor_outputs.anchor_shapes`).
        positive_iou, negative_iou: the IoU thresholds of the assignment.
        focal_alpha, focal_gamma: of Keras' binary focal cross-entropy.
        box_loss_weight: weight of the box loss.

    Call arguments:
        y_true: `(batch, max_boxes, 5)`: boxes `[ymin, xmin, ymax, xmax]` in input pixels and
            class id + 1; rows with 0 there pad.
        y_pred: the model's `(batch, anchors, 5 + classes)`.
    """

    def __init__(
        self,
        image_size,
        strides,
        num_classes,
        anchor_size=4.0,
        anchor_scales=3,
        anchor_ratios=(0.5, 1.0, 2.0),
        positive_iou=0.5,
        negative_iou=0.4,
        focal_alpha=0.25,
        focal_gamma=2.0,
        box_loss_weight=1.0,
        name="retinanet_loss",
        **kwargs,
    ):
        super().__init__(
            image_size, strides, num_classes, focal_alpha, focal_gamma, box_loss_weight, name=name, **kwargs
        )
        self.anchor_size = float(anchor_size)
        self.anchor_scales = int(anchor_scales)
        self.anchor_ratios = tuple(float(ratio) for ratio in anchor_ratios)
        self.positive_iou = float(positive_iou)
        self.negative_iou = float(negative_iou)
        self._anchors = anchor_boxes(
            self.image_size, self.strides, self.anchor_size, self.anchor_scales, self.anchor_ratios
        )

    def assign(self, y_true):
        """`(positive [batch, n] bool, ignored [batch, n] bool, boxes [batch, n, 4],
        classes [batch, n] int)`: each anchor's object, if any."""
        y_true = ops.cast(ops.convert_to_tensor(y_true), "float32")
        boxes, labels = y_true[..., :4], ops.cast(ops.round(y_true[..., 4]), "int32") - 1
        valid = (labels >= 0)[:, None, :]
        overlaps = keras.utils.bounding_boxes.compute_iou(ops.convert_to_tensor(self._anchors), boxes, "yxyx")
        overlaps = ops.where(valid, overlaps, -1.0)  # (batch, anchors, objects)
        best_overlap = ops.max(overlaps, axis=-1)
        best_of_object = ops.max(overlaps, axis=1, keepdims=True)
        best_anchor = valid & (best_of_object > 0) & (overlaps >= best_of_object)
        kept_anyway = ops.any(best_anchor, axis=-1)
        matched = ops.where(kept_anyway[..., None], ops.cast(best_anchor, "float32"), overlaps)
        chosen = ops.one_hot(ops.argmax(matched, axis=-1), ops.shape(boxes)[1], dtype="float32")
        positive = (best_overlap >= self.positive_iou) | kept_anyway
        ignored = ~positive & (best_overlap >= self.negative_iou)
        target_boxes = ops.einsum("bnm,bmk->bnk", chosen, boxes)
        target_classes = ops.cast(ops.round(ops.einsum("bnm,bm->bn", chosen, ops.cast(labels, "float32"))), "int32")
        return positive, ignored, target_boxes, target_classes

    def call(self, y_true, y_pred):
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        positive, ignored, target_boxes, target_classes = self.assign(y_true)
        learning = 1.0 - ops.cast(ignored, "float32")
        losses = self.class_and_box_losses(y_pred, positive, target_boxes, target_classes, class_weights=learning)
        return self.per_positive(losses, y_pred, positive)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "anchor_size": self.anchor_size,
                "anchor_scales": self.anchor_scales,
                "anchor_ratios": list(self.anchor_ratios),
                "positive_iou": self.positive_iou,
                "negative_iou": self.negative_iou,
            }
        )
        return config
