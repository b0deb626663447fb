"""What the one-stage detectors' losses share: focal class loss, CIoU box loss, normalisation."""

import keras
from keras import ops


class OneStageLoss(keras.losses.Loss):
    """Base of `FcosLoss` and `RetinaNetLoss`: each assigns objects to its outputs its own
    way, then both score classes with Keras' binary focal cross-entropy and boxes with
    1 − CIoU (`keras.utils.bounding_boxes.compute_ciou`), summed over the batch and divided
    by its positives.

    Args:
        image_size: the square input side in pixels.
        strides: each pyramid level's stride.
        num_classes: classes of the logits.
        focal_alpha, focal_gamma: of Keras' binary focal cross-entropy.
        box_loss_weight: weight of the box loss.
    """

    def __init__(
        self, image_size, strides, num_classes, focal_alpha=0.25, focal_gamma=2.0, box_loss_weight=1.0, **kwargs
    ):
        super().__init__(**kwargs)
        self.image_size = int(image_size)
        self.strides = tuple(int(stride) for stride in strides)
        self.num_classes = int(num_classes)
        self.focal_alpha = float(focal_alpha)
        self.focal_gamma = float(focal_gamma)
        self.box_loss_weight = float(box_loss_weight)

    def class_and_box_losses(self, y_pred, positive, target_boxes, target_classes, class_weights=None):
        """Per image: the focal class loss over the outputs (each weighted by `class_weights`,
        all by default) plus the weighted CIoU loss of the positives' boxes."""
        weights = ops.cast(positive, "float32")
        targets = ops.one_hot(ops.maximum(target_classes, 0), self.num_classes, dtype="float32") * weights[..., None]
        focal = keras.losses.binary_focal_crossentropy(
            targets[..., None],
            y_pred[..., 5:, None],
            apply_class_balancing=True,
            alpha=self.focal_alpha,
            gamma=self.focal_gamma,
            from_logits=True,
        )
        if class_weights is not None:
            focal = focal * class_weights[..., None]
        ciou = keras.utils.bounding_boxes.compute_ciou(y_pred[..., :4], target_boxes, "yxyx")
        return ops.sum(focal, axis=(1, 2)) + self.box_loss_weight * ops.sum((1.0 - ciou) * weights, axis=1)

    @staticmethod
    def per_positive(per_image, y_pred, positive):
        """Summed over the batch, divided by its positives (the mean over images times the
        batch size)."""
        count = ops.maximum(ops.sum(ops.cast(positive, "float32")), 1.0)
        return per_image * ops.cast(ops.shape(y_pred)[0], "float32") / count

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "image_size": self.image_size,
                "strides": list(self.strides),
                "num_classes": self.num_classes,
                "focal_alpha": self.focal_alpha,
                "focal_gamma": self.focal_gamma,
                "box_loss_weight": self.box_loss_weight,
            }
        )
        return config
