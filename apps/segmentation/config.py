"""The segmentation app's typed config."""

import dataclasses
from typing import Literal

from apps.core.config import OPTIMIZER_CHOICES, AppConfig, ConfigError

MODELS = ("unet", "deeplab")
VOID_CLASS = 255  # Pascal VOC's "void" label: object borders and unlabelled pixels


@dataclasses.dataclass
class SegmentationConfig(AppConfig):
    """Segmentation settings; shared fields are documented on `AppConfig`.

    Attributes:
        model: `unet` (an encoder of `layers.ConvResidualBlock`s and a decoder with skip
            connections) or `deeplab` (DeepLabV3+-style: the same encoder, then
            `layers.AtrousSpatialPyramidPooling` and a light decoder fed by stride-4 features).
        image_size: images (and masks) are resized to this square side for the network; the
            serving signatures resize the answer back to each image's own size.
        width: filters of the first stage; each deeper stage doubles them.
        depth: encoder stages, each halving the resolution (`image_size` must be divisible by
            2**depth).
        stage_blocks: residual blocks per encoder stage (the first one strided).
        dilation_rates: dilations of the atrous pyramid (`deeplab` only).
        dropout: dropout before the classifier.
        dice_weight: the loss is `(1 - dice_weight) * cross-entropy + dice_weight * Dice loss`.
        ignore_class: mask value left out of the loss and the metrics (VOC's 255 by default;
            zoomed or shifted training images mark their new border with it too).
        class_names: the classes, in mask-id order; empty: the source's own names (or
            `class_0`, `class_1`, ... up to the largest id found).
        mask_key: the mask array of an `.npz`; empty: the first of `semantic`, `trimaps`
            (Oxford's 1..3, less one) and `masks` present.
        test_size: examples held out for testing when the source has no split (the last ones;
            0: a fifth).
        augment: random horizontal flips, zooms and shifts, the masks moved with their image.
        zoom: largest zoom in or out, as a fraction of the image side.
        translation: largest shift, as a fraction of the image side.
        max_image_pixels: the exported signatures refuse an image file whose header announces
            more pixels (height × width) than this, before decoding it.
    """

    data: str = "tfds:oxford_iiit_pet"
    model: Literal[MODELS] = "unet"
    epochs: int = 30
    batch_size: int = 8
    learning_rate: float = 3e-3
    optimizer: Literal[OPTIMIZER_CHOICES] = "adamw"
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    validation_fraction: float = 0.1
    field_metrics_examples: int = 0
    image_size: int = 128
    width: int = 16
    depth: int = 4
    stage_blocks: int = 2
    dilation_rates: tuple[int, ...] = (2, 4, 6)
    dropout: float = 0.1
    dice_weight: float = 0.5
    ignore_class: int = VOID_CLASS
    class_names: tuple[str, ...] = ()
    mask_key: str = ""
    test_size: int = 0
    augment: bool = True
    zoom: float = 0.15
    translation: float = 0.1
    max_image_pixels: int = 16_777_216

    def validate(self):
        super().validate()
        for name in ("image_size", "width", "depth", "stage_blocks", "epochs", "batch_size", "max_image_pixels"):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}.")
        if self.image_size % 2**self.depth:
            raise ConfigError(
                f"--image-size {self.image_size} must be divisible by 2**depth = "
                f"{2**self.depth}; change --image-size or --depth."
            )
        if self.model == "deeplab" and self.depth < 2:
            raise ConfigError("--model deeplab needs --depth 2 or more (its decoder reads stride-4 features).")
        if not 0.0 <= self.dice_weight <= 1.0:
            raise ConfigError(f"--dice-weight must be in [0, 1], got {self.dice_weight}.")
        if not 0 <= self.ignore_class <= 255:
            raise ConfigError(f"--ignore-class must be a mask value in 0..255, got {self.ignore_class}.")
        if self.ignore_class < len(self.class_names):
            raise ConfigError(
                f"--ignore-class {self.ignore_class} is one of the {len(self.class_names)} "
                "--class-names; choose a value past the classes (255 by default)."
            )
        if not all(rate >= 1 for rate in self.dilation_rates) or not self.dilation_rates:
            raise ConfigError(f"--dilation-rates must be positive integers, got {self.dilation_rates}.")
        if self.test_size < 0:
            raise ConfigError(f"--test-size must be 0 (a fifth) or positive, got {self.test_size}.")
        return self
