import pytest

from apps.core.config import ConfigError
from tests.apps.dcgan.conftest import tiny_config


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"image_size": 30}, "multiple of 4"),
        ({"channels": 2}, "1 \\(grayscale\\) or 3"),
        ({"latent_dim": 0}, "--latent-dim must be positive"),
        ({"label_smoothing": 0.6}, "label-smoothing"),
        ({"optimizer": "sgd"}, "^--optimizer: both networks train with Adam"),
        ({"warmup_epochs": 1.0}, "^--warmup-epochs: both networks train with Adam"),
        ({"distribute": "mirrored"}, "^--distribute: the GAN trains with its own two-optimizer step"),
    ],
)
def test_values_the_app_cannot_honour_are_refused(changes, message):
    with pytest.raises(ConfigError, match=message):
        tiny_config(**changes).validate()


def test_conditional_needs_labelled_classes(app):
    from apps.dcgan.model import build_gan

    with pytest.raises(ConfigError, match="at least 2 classes"):
        build_gan(tiny_config(conditional=True), 1, classifier=None)
