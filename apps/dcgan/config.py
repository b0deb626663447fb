"""The DCGAN app's typed config."""

import dataclasses
from typing import ClassVar

from apps.core.config import AppConfig, ConfigError, PredictInputs

MAX_IMAGE_SIZE = 256
OWN_TRAINING = (
    "both networks train with Adam (--beta-1) at constant learning rates, on the architecture the "
    "DCGAN flags describe; remove it."
)
OWN_STEP = (
    "the GAN trains with its own two-optimizer step, written for one device (under tf.distribute its "
    "nested gradient tapes get no gradients; on JAX its compiled step expects one device); train it "
    "without --distribute."
)


@dataclasses.dataclass
class DcganConfig(AppConfig):
    """DCGAN settings; shared fields are documented on `AppConfig`.

    Attributes:
        learning_rate: the generator's Adam learning rate.
        discriminator_learning_rate: the discriminator's Adam learning rate.
        beta_1: Adam's first-moment decay for both networks (Radford et al.: 0.5).
        image_size: side of the square images generated (data are resized and centre-cropped
            to it); a multiple of 4 from 8 to 256.
        channels: 1 (grayscale) or 3 (RGB).
        latent_dim: size of the generator's input noise vector.
        conditional: class-conditional generator and discriminator (a label picks the class).
        generator_width: filters of the generator's last hidden stage; earlier stages double it.
        discriminator_width: filters of the discriminator's first stage; later stages double it.
        label_smoothing: one-sided label smoothing: real images are labelled `1 - label_smoothing`.
        generator_ema: momentum of an exponential moving average of the generator's weights,
            updated every step (ramped up from 0.1 over the first steps); the average is what
            generates (sample grids, FID, serving). 0 turns it off (the trained weights generate).
        sample_images: images in the per-epoch grid drawn from the fixed noise (with
            `conditional`, rounded up to whole rows of one class each).
        fid_classifier_width: filters of the first stage of the classifier whose features FID uses
            (`apps.dcgan.fid.build_classifier`; its features are `4 × width` wide).
        fid_classifier_epochs: epochs that classifier trains on the dataset's labelled training
            images (once per dataset: `apps.dcgan.instrument`).
        fid_examples: generated and real images compared by the final evaluation's FID.
        max_images: the most images one serving request may ask for (rows of `latent`, or
            the counts of all rows of `serve_seed` together); larger requests are refused with a
            message.
    """

    data: str = "tfds:mnist"
    epochs: int = 8
    batch_size: int = 128
    learning_rate: float = 2e-4
    discriminator_learning_rate: float = 2e-4
    beta_1: float = 0.5
    image_size: int = 28
    channels: int = 1
    latent_dim: int = 100
    conditional: bool = False
    generator_width: int = 64
    discriminator_width: int = 64
    label_smoothing: float = 0.0
    generator_ema: float = 0.999
    sample_images: int = 64
    fid_classifier_width: int = 24
    fid_classifier_epochs: int = 6
    fid_examples: int = 10_000
    field_metrics_examples: int = 2_000
    max_images: int = 1_024

    # `kapps dcgan predict --seed 1 --count 16 --label 7` (apps.cli): the `serve_seed` inputs.
    PREDICT_INPUTS: ClassVar[PredictInputs] = PredictInputs(
        "seed=N, count=N or label=N (the same as --seed, --count, --label)",
        options={
            "seed": "seed of the noise: the same seed gives the same images (default 0)",
            "count": "how many images to generate, into one PNG grid (default 16)",
            "label": "class to generate, with a --conditional model (default -1: classes in turn)",
        },
    )
    UNSUPPORTED_FIELDS: ClassVar[dict] = {
        **dict.fromkeys(
            ("model", "optimizer", "warmup_epochs", "weight_decay", "first_cycle_epochs", "ema_momentum"), OWN_TRAINING
        ),
        "distribute": OWN_STEP,
    }

    def validate(self):
        super().validate()
        positive = (
            "epochs",
            "batch_size",
            "latent_dim",
            "generator_width",
            "discriminator_width",
            "sample_images",
            "fid_classifier_width",
            "fid_classifier_epochs",
            "fid_examples",
            "max_images",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}.")
        if self.image_size % 4 or not 8 <= self.image_size <= MAX_IMAGE_SIZE:
            raise ConfigError(
                f"--image-size must be a multiple of 4 from 8 to {MAX_IMAGE_SIZE}, got {self.image_size}."
            )
        if self.channels not in (1, 3):
            raise ConfigError(f"--channels must be 1 (grayscale) or 3 (RGB), got {self.channels}.")
        if not 0 <= self.generator_ema < 1:
            raise ConfigError(f"--generator-ema must be in [0, 1), got {self.generator_ema}.")
        if not 0 <= self.label_smoothing < 0.5:
            raise ConfigError(f"--label-smoothing must be in [0, 0.5), got {self.label_smoothing}.")
        if self.learning_rate <= 0 or self.discriminator_learning_rate <= 0 or not 0 <= self.beta_1 < 1:
            raise ConfigError(
                "--learning-rate and --discriminator-learning-rate must be positive and "
                f"--beta-1 in [0, 1); got {self.learning_rate}, "
                f"{self.discriminator_learning_rate}, {self.beta_1}."
            )
        return self
