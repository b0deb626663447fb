import pytest

from apps.core.config import ConfigError
from apps.core.images import DEFAULT_MAX_PIXELS
from apps.digits.app import DigitsApp
from apps.digits.config import DigitsConfig


def test_tiny_config_trains_on_builtin_data_and_validates():
    config = DigitsApp().tiny_config()
    assert config.data == "builtin" and config.epochs == 1
    assert config.validate() is config


@pytest.mark.parametrize("field", ["field_metrics_every", "field_metrics_examples"])
def test_shared_fields_digits_does_not_use_are_refused(field):
    with pytest.raises(ConfigError, match=field.replace("_", "-")):
        DigitsConfig(**{field: 3}).validate()


def test_image_pixel_limit_defaults_to_the_image_signatures_limit_and_is_checked():
    assert DigitsConfig().max_image_pixels == DEFAULT_MAX_PIXELS
    with pytest.raises(ValueError, match="max_image_pixels"):
        DigitsConfig(max_image_pixels=0)
