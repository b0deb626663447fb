import pytest

from apps.core.config import ConfigError
from apps.detection.config import DetectionConfig, parse_test_split
from tests.apps.detection.conftest import tiny_config


def test_defaults_and_tiny_config_validate(app):
    DetectionConfig().validate()
    app.tiny_config().validate()
    assert app.objective == "val_map50" and app.gate_metric == "map50"


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"image_size": 100}, "divisible by 32"),
        ({"pyramid_levels": 5, "image_size": 64}, "divisible by 128"),
        ({"pyramid_levels": 6}, "pyramid-levels must be 1..5"),
        ({"score_threshold": 1.5}, "score-threshold"),
        ({"max_detections": 500}, "exceeds --pre-nms-candidates"),
        ({"backbone": "NoSuchNet"}, "neither `residual` nor a keras.applications"),
        ({"backbone_weights": "imagenet"}, "needs a keras.applications"),
        ({"test_split": "last:0"}, "positive N"),
        ({"test_split": "1.5"}, "in \\(0, 1\\)"),
        ({"anchor_ratios": (1.0, 3.0)}, "^--anchor-ratios: only --model retinanet uses it; --model fcos does not"),
        ({"model": "retinanet", "center_radius": 2.5}, "^--center-radius: only --model fcos uses it"),
        ({"model": "retinanet", "negative_iou": 0.6}, "exceeds --positive-iou"),
        ({"model": "retinanet", "anchor_ratios": (0.0,)}, "must be positive"),
        ({"model": "yolo"}, "--model must be one of fcos, retinanet"),
    ],
)
def test_bad_values_are_refused(changes, fragment):
    with pytest.raises(ConfigError, match=fragment):
        tiny_config(**changes).validate()


def test_test_split_forms():
    assert parse_test_split("0.25") == ("fraction", 0.25)
    assert parse_test_split("last:50") == ("last", 50)
    assert parse_test_split("file:names.txt") == ("file", "names.txt")
    assert parse_test_split("a.jpg, b.jpg") == ("names", ("a.jpg", "b.jpg"))


@pytest.mark.parametrize(
    "model, searched, fixed",
    [
        ("fcos", {"center_radius", "size_per_stride"}, {"anchor_size", "positive_iou"}),
        ("retinanet", {"anchor_size", "positive_iou"}, {"center_radius", "size_per_stride"}),
    ],
)
def test_the_search_space_tunes_the_chosen_models_assignment(model, searched, fixed):
    import keras_tuner

    from apps.detection.app import search_space

    hp = keras_tuner.HyperParameters()
    config = search_space(hp, tiny_config(model=model)).validate()
    names = {parameter.name for parameter in hp.space}
    assert searched <= names and not fixed & names
    assert {"width", "stage_blocks", "pyramid_levels"} <= names
    assert config.negative_iou <= config.positive_iou
