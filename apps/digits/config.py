"""The digits app's typed config."""

import dataclasses
from typing import ClassVar, Literal

from apps.core.config import OPTIMIZER_CHOICES, AppConfig

MODELS = ("resnet", "cnn")


@dataclasses.dataclass
class DigitsConfig(AppConfig):
    """Digits settings; shared fields are documented on `AppConfig`.

    Attributes:
        model: `resnet` (residual CNN from `layers.ConvResidualBlock`) or `cnn` (plain CNN).
        width: filters of the first stage; later stages double it.
        dropout: dropout before the classifier.
        augment: random shifts and rotations of training images.
        max_shift: largest shift, as a fraction of the image side (whole pixels).
        max_rotation: largest rotation, as a fraction of a full turn (0: none; rotations cost
            far more CPU than shifts).
        label_smoothing: softens the one-hot targets.
        first_cycle_epochs: the learning rate anneals to zero after the warm-up and this
            many epochs (a good model after 4 epochs), then restarts for one cosine cycle.
        max_image_pixels: the exported signatures refuse an image file whose header announces
            more pixels (height × width) than this, before decoding it (default 4096×4096,
            `apps.core.images.DEFAULT_MAX_PIXELS`).
    """

    data: str = "tfds:mnist"
    model: Literal[MODELS] = "resnet"
    epochs: int = 20
    batch_size: int = 128
    learning_rate: float = 3e-3
    optimizer: Literal[OPTIMIZER_CHOICES] = "adamw"
    width: int = 16
    dropout: float = 0.2
    augment: bool = True
    max_shift: float = 0.1
    max_rotation: float = 0.0
    label_smoothing: float = 0.05
    warmup_epochs: float = 0.5
    first_cycle_epochs: float = 3.5
    weight_decay: float = 1e-4
    validation_fraction: float = 0.1
    max_image_pixels: int = 16_777_216

    UNSUPPORTED_FIELDS: ClassVar[dict] = {
        "field_metrics_every": "the digits app computes no whole-split metrics; remove it.",
        "field_metrics_examples": "the digits app computes no whole-split metrics; remove it.",
    }

    def __post_init__(self):
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}.")
        if self.width < 1 or self.epochs < 1 or self.batch_size < 1 or self.max_image_pixels < 1:
            raise ValueError(
                f"width, epochs, batch_size and max_image_pixels must be positive, got "
                f"{self.width}, {self.epochs}, {self.batch_size}, {self.max_image_pixels}."
            )
