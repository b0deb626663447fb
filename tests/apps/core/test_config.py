import argparse
import dataclasses

import pytest

from apps.core.config import AppConfig, ConfigError, add_config_arguments, overrides_from_args


@dataclasses.dataclass
class ToyConfig(AppConfig):
    width: int = 8
    augment: bool = True
    name: str = "toy"
    anchor_sizes: tuple[int, ...] = (32, 64)
    class_names: tuple[str, ...] = ()

    UNSUPPORTED_FIELDS = {"warmup_epochs": "the toy app's rate is constant; remove it."}


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


def test_sequence_fields_parse_from_comma_separated_flags():
    overrides = parse("--anchor-sizes", "16,32,128", "--class-names", "cat, dog")
    assert overrides == {"anchor_sizes": (16, 32, 128), "class_names": ("cat", "dog")}
    assert parse("--anchor-sizes", "")["anchor_sizes"] == ()
    with pytest.raises(SystemExit):
        parse("--anchor-sizes", "16,big")


def test_sequence_fields_survive_a_json_round_trip(tmp_path):
    config = ToyConfig(anchor_sizes=(8, 16))
    config.save(tmp_path / "config.json")
    assert ToyConfig.load(tmp_path / "config.json") == config


def test_validate_checks_types_and_refuses_unsupported_shared_flags():
    assert ToyConfig().validate() == ToyConfig()
    with pytest.raises(ConfigError, match="^--warmup-epochs: the toy app's rate is constant; remove it.$"):
        ToyConfig(warmup_epochs=1.0).validate()
    with pytest.raises(ConfigError, match="width must be int"):
        ToyConfig(width="8").validate()
    with pytest.raises(ConfigError, match="anchor_sizes"):
        ToyConfig(anchor_sizes=(1, "2")).validate()
    assert ToyConfig(learning_rate=1).validate().learning_rate == 1  # an int is a fine float


def test_help_marks_unsupported_flags():
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, ToyConfig)
    help_text = parser.format_help()
    assert "(not used by this app: the toy app's rate is constant; remove it.)" in " ".join(help_text.split())
    assert "INT,..." in help_text


def _help_of(config_class, flag):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser, config_class)
    return next(action for action in parser._actions if flag in action.option_strings)


def test_flag_help_comes_from_the_config_docstring_with_the_choices():
    epochs = _help_of(ToyConfig, "--epochs")
    assert epochs.help == "training epochs. (default: 10)"
    jit = _help_of(ToyConfig, "--jit-compile")
    assert jit.choices == ("auto", "on", "off") and "XLA compilation" in jit.help
    with pytest.raises(SystemExit):
        parse("--jit-compile", "sometimes")


def test_a_literal_field_refuses_other_words_in_code_too():
    with pytest.raises(ConfigError, match="--optimizer must be one of adam, adamw"):
        ToyConfig(optimizer="lion").validate()


def test_every_app_describes_every_field_of_its_config():
    from apps.catalog import load_apps
    from apps.core.config import field_descriptions

    registry = load_apps()
    for name in registry.names():
        config_class = registry.entry(name).config_class
        described = field_descriptions(config_class)
        missing = [field.name for field in dataclasses.fields(config_class) if not described.get(field.name)]
        assert not missing, f"{config_class.__name__} has no docstring description for {missing}"
