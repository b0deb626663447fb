"""The segmentation config refuses what the app cannot honour, saying what to do."""

import pytest

from apps.core.config import ConfigError
from apps.segmentation.app import SegmentationApp, search_space
from apps.segmentation.config import SegmentationConfig


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"model": "fcn"}, "--model must be one of unet, deeplab"),
        ({"image_size": 100, "depth": 4}, r"--image-size 100 must be divisible by 2\*\*depth = 16"),
        ({"model": "deeplab", "depth": 1, "image_size": 32}, "--model deeplab needs --depth 2 or more"),
        ({"dice_weight": 1.5}, r"--dice-weight must be in \[0, 1\]"),
        ({"ignore_class": 300}, "--ignore-class must be a mask value in 0..255"),
        ({"class_names": ("a", "b"), "ignore_class": 1}, "--ignore-class 1 is one of the 2 --class-names"),
        ({"dilation_rates": (2, 0)}, "--dilation-rates must be positive"),
        ({"width": 0}, "--width must be positive"),
    ],
)
def test_refuses_values_it_cannot_honour(changes, message):
    with pytest.raises(ConfigError, match=message):
        SegmentationConfig(**changes).validate()


def test_defaults_and_tiny_config_validate():
    app = SegmentationApp()
    assert app.default_config().validate().data == "tfds:oxford_iiit_pet"
    tiny = app.tiny_config().validate()
    assert (tiny.data, tiny.image_size, tiny.width, tiny.epochs) == ("builtin", 32, 4, 1)


def test_search_space_chooses_depths_the_image_size_allows():
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    config = search_space(hp, SegmentationConfig(image_size=32, depth=4))
    assert set(hp.values) == {"model", "depth", "width", "dice_weight"}
    assert hp._hps["depth"][0].values == [3, 4, 5]
    assert config.validate() is config
    small = keras_tuner.HyperParameters()
    search_space(small, SegmentationConfig(image_size=24, depth=2))  # 24 halves three times
    assert small._hps["depth"][0].values == [2, 3]
