"""Segmentation models (a residual U-Net and a DeepLabV3+-style network) and their loss.

Both share an encoder: a full-resolution stem, then `depth` stages of
`layers.ConvResidualBlock`s, each halving the resolution and doubling the width.
The U-Net decodes stage by stage, upsampling and concatenating the encoder's
features of the same resolution (skip connections); DeepLabV3+ pools context at
the deepest stage with `layers.AtrousSpatialPyramidPooling`, upsamples it to stride
4, fuses it with the stride-4 features and upsamples to the input. Both answer
per-pixel class probabilities (float32). `keras.ops` only: they train on
TensorFlow, JAX and PyTorch.
"""

import keras
from keras import ops

from apps.core.optimizers import scheduled_optimizer
from layers import AtrousSpatialPyramidPooling, ConvResidualBlock

BN_MOMENTUM = 0.9
LOW_LEVEL_FILTERS = 48  # DeepLabV3+'s projection of the stride-4 features (scaled by width / 64)


@keras.saving.register_keras_serializable(package="kapps")
class SegmentationLoss(keras.losses.Loss):
    """Per-pixel cross-entropy mixed with the soft Dice loss, ignoring one mask value.

    `loss = (1 - dice_weight) * cross-entropy + dice_weight * (1 - mean Dice)`, per image:
    cross-entropy averaged over the image's counted pixels, Dice averaged over the
    classes (a class absent from both the mask and the prediction scores 1). Pixels
    whose mask holds `ignore_class` count for neither.

    Args:
        num_classes: classes of the prediction's last axis.
        dice_weight: share of the Dice loss in [0, 1].
        ignore_class: the mask value left out.

    Call arguments:
        y_true: int class ids `(batch, height, width, 1)`.
        y_pred: class probabilities `(batch, height, width, num_classes)`.
    """

    def __init__(self, num_classes, dice_weight=0.5, ignore_class=255, name="segmentation_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.dice_weight = float(dice_weight)
        self.ignore_class = int(ignore_class)

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.squeeze(y_true, axis=-1), "int32")
        counted = ops.not_equal(labels, self.ignore_class)
        weights = ops.cast(counted, y_pred.dtype)[..., None]
        one_hot = ops.one_hot(ops.where(counted, labels, 0), self.num_classes, dtype=y_pred.dtype) * weights
        probabilities = ops.clip(y_pred, keras.backend.epsilon(), 1.0 - keras.backend.epsilon())
        pixels = ops.maximum(ops.sum(weights, axis=(1, 2, 3)), 1.0)
        cross_entropy = -ops.sum(one_hot * ops.log(probabilities), axis=(1, 2, 3)) / pixels
        predicted = y_pred * weights
        overlap = ops.sum(predicted * one_hot, axis=(1, 2))
        total = ops.sum(predicted, axis=(1, 2)) + ops.sum(one_hot, axis=(1, 2))
        dice = (2.0 * overlap + 1.0) / (total + 1.0)
        dice_loss = 1.0 - ops.mean(dice, axis=-1)
        return (1.0 - self.dice_weight) * cross_entropy + self.dice_weight * dice_loss

    def get_config(self):
        config = super().get_config()
        config.update(
            {"num_classes": self.num_classes, "dice_weight": self.dice_weight, "ignore_class": self.ignore_class}
        )
        return config


def _conv_bn_relu(x, filters, kernel_size, name):
    x = keras.layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def encoder(inputs, config):
    """The stem and `depth` stages of `stage_blocks` residual blocks; returns the features of every resolution,
    full resolution first."""
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="rescale")(inputs)
    x = _conv_bn_relu(x, config.width, 3, "stem")
    features = [x]
    for stage in range(1, config.depth + 1):
        filters = config.width * 2**stage
        x = ConvResidualBlock(filters, strides=2, momentum=BN_MOMENTUM, name=f"encoder{stage}_down")(x)
        for block in range(1, config.stage_blocks):
            x = ConvResidualBlock(filters, momentum=BN_MOMENTUM, name=f"encoder{stage}_block{block}")(x)
        features.append(x)
    return features


def _classifier(x, config, num_classes):
    x = keras.layers.Dropout(config.dropout, name="dropout")(x)
    return keras.layers.Conv2D(num_classes, 1, activation="softmax", dtype="float32", name="probabilities")(x)


def build_unet(config, num_classes):
    """Residual U-Net: the encoder, then per stage bilinear upsampling, concatenation with
    the encoder's features of that resolution and a residual block."""
    inputs = keras.Input((config.image_size, config.image_size, 3), name="images")
    features = encoder(inputs, config)
    x = features[-1]
    for stage in range(config.depth - 1, -1, -1):
        x = keras.layers.UpSampling2D(2, interpolation="bilinear", name=f"decoder{stage}_up")(x)
        x = keras.layers.Concatenate(name=f"decoder{stage}_skip")([x, features[stage]])
        x = ConvResidualBlock(config.width * 2**stage, momentum=BN_MOMENTUM, name=f"decoder{stage}_block")(x)
    return keras.Model(inputs, _classifier(x, config, num_classes), name="segmentation_unet")


def build_deeplab(config, num_classes):
    """DeepLabV3+-style: atrous pyramid on the deepest features, upsampled to stride 4 and
    fused with the stride-4 features, then upsampled to the input's resolution."""
    inputs = keras.Input((config.image_size, config.image_size, 3), name="images")
    features = encoder(inputs, config)
    context = AtrousSpatialPyramidPooling(
        config.width * 4, dilation_rates=config.dilation_rates, momentum=BN_MOMENTUM, name="aspp"
    )(features[-1])
    context = keras.layers.UpSampling2D(2 ** (config.depth - 2), interpolation="bilinear", name="context_up")(context)
    low_level = _conv_bn_relu(features[2], max(8, LOW_LEVEL_FILTERS * config.width // 64), 1, "low_level")
    x = keras.layers.Concatenate(name="fuse")([context, low_level])
    x = _conv_bn_relu(x, config.width * 4, 3, "fuse1")
    x = _conv_bn_relu(x, config.width * 4, 3, "fuse2")
    x = keras.layers.UpSampling2D(4, interpolation="bilinear", name="output_up")(x)
    return keras.Model(inputs, _classifier(x, config, num_classes), name="segmentation_deeplab")


BUILDERS = {"unet": build_unet, "deeplab": build_deeplab}


def build_model(config, num_classes, train_examples):
    """The compiled model `config.model` names: the mixed loss, and the training split's mean
    IoU accumulated over each epoch as a metric (`mean_iou`)."""
    model = BUILDERS[config.model](config, num_classes)
    model.compile(
        optimizer=scheduled_optimizer(config, train_examples),
        loss=SegmentationLoss(num_classes, config.dice_weight, config.ignore_class),
        metrics=[
            keras.metrics.MeanIoU(num_classes, name="mean_iou", ignore_class=config.ignore_class, sparse_y_pred=False)
        ],
    )
    # Built now, not inside the first traced training step (which TensorFlow would then trace twice).
    model.optimizer.build(model.trainable_variables)
    return model
