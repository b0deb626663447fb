"""The detectors (one stage: FCOS-style anchor-free, or RetinaNet), their losses and decode step.

A backbone (stages of `layers.ConvResidualBlock`s, or a `keras.applications` network)
gives features at strides 8, 16 and 32; `layers.FeaturePyramid` merges them top-down
(and adds stride-64/128 levels when asked); two heads shared by every level — a class
head and a box head, each `head_depth` 3×3 convolutions with group normalisation.

`--model fcos` (the default): at every position of every level the heads predict the
class logits, the distances (left, top, right, bottom) from the position to the sides
of its object's box and a centre-ness logit (how central the position is in its box:
FCOS's centre-ness, which ranks boxes predicted near a centre above those from an
edge). `DetectionOutputs` turns the distances into boxes and concatenates the levels:
the model answers `(batch, positions, 5 + classes)`: boxes `[ymin, xmin, ymax, xmax]`
in input pixels, the centre-ness logit, then class logits (float32). Training assigns
each position to the smallest box that contains it, within `center_radius` strides of
the box centre and of the size its level regresses (FCOS's centre sampling and scale
ranges), computed in the loss with `keras.ops` from the padded ground truth, so it
runs on TensorFlow, JAX and PyTorch. Classes learn with Keras' binary focal
cross-entropy, boxes with 1 − CIoU (`keras.utils.bounding_boxes.compute_ciou`),
centre-ness with binary cross-entropy, all normalised by the positives.

`--model retinanet`: the same heads predict, per anchor (`anchor_scales` sizes ×
`anchor_ratios` at every position), class logits and box deltas;
`anchor_outputs.AnchorOutputs` decodes them into the same `(batch, anchors, 5 +
classes)` layout (column 4 unused) and `retinanet_loss.RetinaNetLoss` assigns anchors
by IoU with the same focal and CIoU losses.

`decode(...)` is the one post-processing step: scores √(class probability ×
centre-ness) (FCOS) or the class probability (RetinaNet), best class per position,
the `pre_nms_candidates` best positions, greedy per-class non-max suppression
(`keras.utils.bounding_boxes.compute_iou`) and the `max_detections` best, as the TF
Object Detection API answers them.
"""

import math

import keras
import numpy as np
from keras import ops

from apps.core.optimizers import scheduled_optimizer
from apps.detection.anchor_outputs import AnchorOutputs, anchor_shapes
from apps.detection.config import RESIDUAL_BACKBONE
from apps.detection.detection_outputs import DetectionOutputs, positions
from apps.detection.one_stage_loss import OneStageLoss
from apps.detection.retinanet_loss import RetinaNetLoss
from layers import ConvResidualBlock, FeaturePyramid

BN_MOMENTUM = 0.9
PRIOR_PROBABILITY = 0.01  # initial class probability (RetinaNet's bias initialisation)
BACKBONE_STRIDES = (8, 16, 32)
NO_OBJECT = 1e12
CLASS_OFFSET = 4.0  # per-class NMS: each class's boxes shifted apart (boxes are within [0, 1])


def level_strides(pyramid_levels):
    return tuple(8 * 2**level for level in range(pyramid_levels))


@keras.saving.register_keras_serializable(package="kapps")
class FcosLoss(OneStageLoss):
    """FCOS assignment, focal class loss and CIoU box loss.

    Args:
        image_size: the square input side in pixels.
        strides: each pyramid level's stride.
        num_classes: classes of the logits.
        center_radius: positions within this many strides of a box centre may learn it.
        size_per_stride: a level learns boxes whose largest centre-to-side distance is in
            `[size_per_stride / 2, size_per_stride]` strides (the first level from 0, the
            last without bound).
        focal_alpha, focal_gamma: of Keras' binary focal cross-entropy.
        box_loss_weight: weight of the box loss.

    Call arguments:
        y_true: `(batch, max_boxes, 5)`: boxes `[ymin, xmin, ymax, xmax]` in input pixels and
            class id + 1; rows with 0 there pad.
        y_pred: the model's `(batch, positions, 5 + classes)`.
    """

    def __init__(
        self,
        image_size,
        strides,
        num_classes,
        center_radius=1.5,
        size_per_stride=8.0,
        focal_alpha=0.25,
        focal_gamma=2.0,
        box_loss_weight=1.0,
        name="fcos_loss",
        **kwargs,
    ):
        super().__init__(
            image_size, strides, num_classes, focal_alpha, focal_gamma, box_loss_weight, name=name, **kwargs
        )
        self.center_radius = float(center_radius)
        self.size_per_stride = float(size_per_stride)
        self._centres, self._strides = positions(self.image_size, self.strides)
        lowest = np.where(self._strides == self.strides[0], 0.0, self._strides * self.size_per_stride / 2)
        highest = np.where(self._strides == self.strides[-1], NO_OBJECT, self._strides * self.size_per_stride)
        self._ranges = np.stack([lowest, highest], axis=-1).astype(np.float32)

    def assign(self, y_true):
        """`(positive [batch, n] bool, boxes [batch, n, 4], classes [batch, n] int)`: each
        position's object, if any."""
        y_true = ops.cast(ops.convert_to_tensor(y_true), "float32")
        boxes, labels = y_true[..., :4], ops.cast(ops.round(y_true[..., 4]), "int32") - 1
        centres = ops.convert_to_tensor(self._centres)
        y, x = centres[None, :, 0, None], centres[None, :, 1, None]
        ymin, xmin, ymax, xmax = (boxes[:, None, :, index] for index in range(4))
        top, left, bottom, right = y - ymin, x - xmin, ymax - y, xmax - x
        inside = ops.minimum(ops.minimum(top, left), ops.minimum(bottom, right)) > 0
        radius = ops.convert_to_tensor(self._strides)[None, :, None] * self.center_radius
        near = (ops.abs(y - (ymin + ymax) / 2) < radius) & (ops.abs(x - (xmin + xmax) / 2) < radius)
        extent = ops.maximum(ops.maximum(top, left), ops.maximum(bottom, right))
        ranges = ops.convert_to_tensor(self._ranges)
        in_range = (extent >= ranges[None, :, 0, None]) & (extent <= ranges[None, :, 1, None])
        candidate = inside & near & in_range & (labels >= 0)[:, None, :]
        area = (ymax - ymin) * (xmax - xmin)
        cost = ops.where(candidate, area, NO_OBJECT)
        best = ops.argmin(cost, axis=-1)
        positive = ops.min(cost, axis=-1) < NO_OBJECT
        chosen = ops.one_hot(best, ops.shape(boxes)[1], dtype="float32")
        target_boxes = ops.einsum("bnm,bmk->bnk", chosen, boxes)
        target_classes = ops.cast(ops.round(ops.einsum("bnm,bm->bn", chosen, ops.cast(labels, "float32"))), "int32")
        return positive, target_boxes, target_classes

    def centreness(self, boxes):
        """FCOS's centre-ness target of each position for `boxes [batch, n, 4]`:
        √(min(left, right) / max(left, right) × min(top, bottom) / max(top, bottom))."""
        centres = ops.convert_to_tensor(self._centres)[None]
        boxes = ops.cast(ops.convert_to_tensor(boxes), "float32")
        top, left = centres[..., 0] - boxes[..., 0], centres[..., 1] - boxes[..., 1]
        bottom, right = boxes[..., 2] - centres[..., 0], boxes[..., 3] - centres[..., 1]
        top, left, bottom, right = (ops.maximum(value, 1e-3) for value in (top, left, bottom, right))
        return ops.sqrt(
            ops.minimum(left, right) / ops.maximum(left, right) * ops.minimum(top, bottom) / ops.maximum(top, bottom)
        )

    def call(self, y_true, y_pred):
        y_true, y_pred = ops.cast(y_true, "float32"), ops.cast(y_pred, "float32")
        positive, target_boxes, target_classes = self.assign(y_true)
        centreness = keras.losses.binary_crossentropy(
            self.centreness(target_boxes)[..., None], y_pred[..., 4:5], from_logits=True
        )
        centreness_loss = ops.sum(centreness * ops.cast(positive, "float32"), axis=1)
        losses = self.class_and_box_losses(y_pred, positive, target_boxes, target_classes)
        return self.per_positive(losses + centreness_loss, y_pred, positive)

    def get_config(self):
        config = super().get_config()
        config.update({"center_radius": self.center_radius, "size_per_stride": self.size_per_stride})
        return config


def _suppress(index, carry):
    """One step of greedy NMS: if candidate `index` is still kept, drop the later (lower-scoring)
    candidates it overlaps. A module-level function, so JAX traces the loop once."""
    keep, overlaps, order = carry
    active = ops.take(keep, index, axis=1)[:, None]
    overlapping = ops.take(overlaps, index, axis=1)
    return keep & ~(active & overlapping & (order > index)), overlaps, order


def output_layer(model):
    return model.get_layer("detections")


def decode(predictions, model, score_threshold=None):
    """Raw outputs `(batch, positions, 5 + classes)` → the TF Object Detection API's answer.

    Returns a dict: `detection_boxes` float32 `[batch, max_detections, 4]` (normalised
    `[ymin, xmin, ymax, xmax]`, zeros past `num_detections`), `detection_scores`
    `[batch, max_detections]` (best first, zeros past), `detection_classes`
    `[batch, max_detections]` (class id + 1 as float32, the OD API's label-map ids; 0
    past) and `num_detections` float32 `[batch]`. Detections score at least
    `score_threshold` (the model's serving threshold when None); a box overlapping a better
    one of the same class by more than the IoU threshold is dropped.
    """
    settings = output_layer(model)
    threshold = settings.score_threshold if score_threshold is None else float(score_threshold)
    predictions = ops.cast(predictions, "float32")
    boxes = ops.clip(predictions[..., :4] / float(settings.image_size), 0.0, 1.0)
    probabilities = ops.sigmoid(predictions[..., 5:])
    if settings.scored_by_centreness:
        probabilities = ops.sqrt(probabilities * ops.sigmoid(predictions[..., 4:5]))
    scores, classes = ops.max(probabilities, axis=-1), ops.argmax(probabilities, axis=-1)
    candidates = min(settings.pre_nms_candidates, int(predictions.shape[1]))
    top_scores, order = ops.top_k(scores, candidates)
    top_boxes = ops.take_along_axis(boxes, ops.repeat(order[..., None], 4, axis=-1), axis=1)
    top_classes = ops.take_along_axis(ops.cast(classes, "int32"), order, axis=1)
    shifted = top_boxes + ops.cast(top_classes, "float32")[..., None] * CLASS_OFFSET
    overlaps = keras.utils.bounding_boxes.compute_iou(shifted, shifted, "yxyx") > settings.iou_threshold
    carry = (top_scores >= threshold, overlaps, ops.arange(candidates)[None, :])
    keep, _, _ = ops.fori_loop(0, candidates, _suppress, carry)
    kept_scores = ops.where(keep, top_scores, 0.0)
    count = min(settings.max_detections, candidates)
    final_scores, final = ops.top_k(kept_scores, count)
    valid = ops.cast(final_scores > 0, "float32")
    final_boxes = ops.take_along_axis(top_boxes, ops.repeat(final[..., None], 4, axis=-1), axis=1) * valid[..., None]
    final_classes = (ops.cast(ops.take_along_axis(top_classes, final, axis=1), "float32") + 1.0) * valid
    if count < settings.max_detections:  # fewer positions than detections: pad to a fixed size
        padding = [[0, 0], [0, settings.max_detections - count]]
        final_boxes = ops.pad(final_boxes, padding + [[0, 0]])
        final_scores, final_classes, valid = (ops.pad(value, padding) for value in (final_scores, final_classes, valid))
    return {
        "detection_boxes": final_boxes,
        "detection_scores": final_scores * valid,
        "detection_classes": final_classes,
        "num_detections": ops.sum(valid, axis=1),
    }


# ----- backbones -------------------------------------------------------------------------
def _conv_bn_relu(x, filters, kernel_size, strides, name):
    x = keras.layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(
        x
    )
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def residual_backbone(inputs, config):
    """A strided stem and four stages of residual blocks (strides 4, 8, 16, 32); the features
    of strides 8, 16 and 32."""
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    x = _conv_bn_relu(x, config.width, 3, 2, "stem")
    features = []
    for stage, stride in enumerate((4, 8, 16, 32)):
        filters = config.width * min(8, 2**stage)
        x = ConvResidualBlock(filters, strides=2, momentum=BN_MOMENTUM, name=f"stage{stage + 1}_down")(x)
        for block in range(1, config.stage_blocks):
            x = ConvResidualBlock(filters, momentum=BN_MOMENTUM, name=f"stage{stage + 1}_block{block}")(x)
        if stride in BACKBONE_STRIDES:
            features.append(x)
    return features


APPLICATION_PREPROCESSING = {  # keras.applications module → how it expects its pixels (0-255 in)
    "resnet": "caffe",
    "resnet50": "caffe",
    "vgg16": "caffe",
    "vgg19": "caffe",
    "mobilenet": "tf",
    "mobilenet_v2": "tf",
    "inception_v3": "tf",
    "xception": "tf",
    "resnet_v2": "tf",
    "nasnet": "tf",
    "inception_resnet_v2": "tf",
    "densenet": "torch",
}


def application_backbone(inputs, config):
    """The features of a `keras.applications` network at strides 8, 16 and 32 (the last layer
    of each resolution), its pixels prepared as that network expects."""
    builder = getattr(keras.applications, config.backbone)
    module = builder.__module__.rsplit(".", 1)[-1]
    mode = APPLICATION_PREPROCESSING.get(module, "none")  # EfficientNet, ConvNeXt...: rescale inside
    x = inputs
    if mode == "tf":
        x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="backbone_rescale")(x)
    elif mode == "torch":
        x = keras.layers.Normalization(
            mean=[123.675, 116.28, 103.53], variance=[58.395**2, 57.12**2, 57.375**2], name="backbone_norm"
        )(x)
    elif mode == "caffe":
        # RGB → BGR by a fixed 1×1 convolution, then ImageNet's BGR means subtracted.
        flip = np.eye(3, dtype="float32")[::-1].reshape(1, 1, 3, 3)
        x = keras.layers.Conv2D(
            3,
            1,
            use_bias=False,
            trainable=False,
            name="backbone_bgr",
            kernel_initializer=keras.initializers.Constant(flip),
        )(x)
        x = keras.layers.Normalization(mean=[103.939, 116.779, 123.68], variance=[1.0, 1.0, 1.0], name="backbone_norm")(
            x
        )
    network = builder(
        include_top=False,
        weights=None if config.backbone_weights == "none" else "imagenet",
        input_shape=(config.image_size, config.image_size, 3),
    )
    wanted = {config.image_size // stride: stride for stride in BACKBONE_STRIDES}
    last_of = {}
    for layer in network.layers:
        shape = layer.output.shape if hasattr(layer, "output") else None
        if shape is not None and len(shape) == 4 and shape[1] in wanted:
            last_of[shape[1]] = layer.name
    missing = [stride for size, stride in wanted.items() if size not in last_of]
    if missing:
        raise ValueError(
            f"{config.backbone} has no features at stride(s) {missing} for --image-size {config.image_size}."
        )
    extractor = keras.Model(
        network.inputs,
        [network.get_layer(last_of[size]).output for size in sorted(wanted, reverse=True)],
        name=f"backbone_{config.backbone.lower()}",
    )
    return extractor(x)


def anchors_per_position(config):
    return len(anchor_shapes(config.anchor_size, config.anchor_scales, config.anchor_ratios))


def build_detector(config, class_names):
    """The uncompiled detector: backbone → feature pyramid → shared heads → `DetectionOutputs`
    (FCOS: class logits, distances and centre-ness per position) or `AnchorOutputs`
    (RetinaNet: class logits and box deltas per anchor)."""
    inputs = keras.Input((config.image_size, config.image_size, 3), name="images")
    if config.backbone == RESIDUAL_BACKBONE:
        features = residual_backbone(inputs, config)
    else:
        features = application_backbone(inputs, config)
    strides = level_strides(config.pyramid_levels)
    used = features[: min(3, config.pyramid_levels)]
    filters = config.pyramid_filters or 4 * config.width
    levels = FeaturePyramid(filters, extra_levels=max(0, config.pyramid_levels - 3), name="pyramid")(used)
    num_classes = len(class_names)
    anchor_based = config.model == "retinanet"
    per_position = anchors_per_position(config) if anchor_based else 1
    groups = max(1, min(8, filters // 8))
    heads = {}
    for kind in ("class", "box"):
        heads[kind] = [
            (
                keras.layers.Conv2D(filters, 3, padding="same", name=f"{kind}_head{index}"),
                keras.layers.GroupNormalization(groups, name=f"{kind}_head{index}_norm"),
            )
            for index in range(config.head_depth)
        ]
    bias = -math.log((1 - PRIOR_PROBABILITY) / PRIOR_PROBABILITY)
    class_out = keras.layers.Conv2D(
        num_classes * per_position,
        3,
        padding="same",
        name="class_logits",
        bias_initializer=keras.initializers.Constant(bias),
    )
    box_out = keras.layers.Conv2D(
        4 * per_position, 3, padding="same", name="box_deltas" if anchor_based else "box_distances"
    )
    centreness_out = None if anchor_based else keras.layers.Conv2D(1, 3, padding="same", name="centreness")
    outputs = []
    for level in levels:
        towers = {}
        for kind in ("class", "box"):
            x = level
            for conv, norm in heads[kind]:
                x = keras.layers.Activation("relu")(norm(conv(x)))
            towers[kind] = x
        outputs += [class_out(towers["class"]), box_out(towers["box"])]
        if centreness_out is not None:
            outputs.append(centreness_out(towers["box"]))
    settings = dict(
        score_threshold=config.score_threshold,
        iou_threshold=config.iou_threshold,
        max_detections=config.max_detections,
        pre_nms_candidates=config.pre_nms_candidates,
        class_names=class_names,
        dtype="float32",
        name="detections",
    )
    if anchor_based:
        detections = AnchorOutputs(
            config.image_size, strides, config.anchor_size, config.anchor_scales, config.anchor_ratios, **settings
        )(outputs)
    else:
        detections = DetectionOutputs(config.image_size, strides, **settings)(outputs)
    return keras.Model(inputs, detections, name=f"detector_{config.model}")


def make_loss(config, num_classes):
    strides = level_strides(config.pyramid_levels)
    shared = dict(
        focal_alpha=config.focal_alpha, focal_gamma=config.focal_gamma, box_loss_weight=config.box_loss_weight
    )
    if config.model == "retinanet":
        return RetinaNetLoss(
            config.image_size,
            strides,
            num_classes,
            config.anchor_size,
            config.anchor_scales,
            config.anchor_ratios,
            config.positive_iou,
            config.negative_iou,
            **shared,
        )
    return FcosLoss(config.image_size, strides, num_classes, config.center_radius, config.size_per_stride, **shared)


def build_model(config, class_names, train_examples):
    """The compiled detector (the config's optimizer and schedule, `FcosLoss` or `RetinaNetLoss`)."""
    model = build_detector(config, class_names)
    model.compile(optimizer=scheduled_optimizer(config, train_examples), loss=make_loss(config, len(class_names)))
    model.optimizer.build(model.trainable_variables)
    return model
