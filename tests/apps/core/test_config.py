import argparse
import dataclasses

import pytest

from apps.core.config import AppConfig, add_config_arguments, overrides_from_args


@dataclasses.dataclass
class ToyConfig(AppConfig):
    width: int = 8
    augment: bool = True
    name: str = "toy"


def parse(*argv):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, ToyConfig)
    return overrides_from_args(parser.parse_args(argv))


def test_flags_override_only_what_is_given():
    overrides = parse("--width", "16", "--augment", "false", "--learning-rate", "0.01")
    assert overrides == {"width": 16, "augment": False, "learning_rate": 0.01}
    config = ToyConfig().replace(**overrides)
    assert (config.width, config.augment, config.learning_rate, config.name) == (16, False, 0.01, "toy")


def test_bad_values_are_rejected_by_the_parser():
    with pytest.raises(SystemExit):
        parse("--width", "wide")
    with pytest.raises(SystemExit):
        parse("--augment", "maybe")


def test_save_load_round_trip(tmp_path):
    config = ToyConfig(width=3, data="files:/x")
    config.save(tmp_path / "config.json")
    assert ToyConfig.load(tmp_path / "config.json") == config


def test_unknown_fields_are_errors():
    with pytest.raises(ValueError, match="no field"):
        ToyConfig().replace(depth=3)
    with pytest.raises(ValueError, match="no field"):
        ToyConfig.from_dict({"depth": 3})


def test_describe_lists_every_field():
    text = ToyConfig().describe()
    for field in dataclasses.fields(ToyConfig):
        assert field.name in text
