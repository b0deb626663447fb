"""`--mixed-precision` and `--jit-compile` go through Keras' own settings."""

import keras
import pytest

from apps.core.config import ConfigError
from apps.core.precision import dtype_policy
from apps.digits.app import DigitsApp


def test_policy_and_jit_follow_the_config_and_the_global_policy_is_restored():
    app = DigitsApp()
    config = app.tiny_config()
    data = app.load_data(config)
    assert dtype_policy(config) == "float32"
    mixed = app.make_model(config.replace(mixed_precision=True, jit_compile="on"), data)
    assert mixed.dtype_policy.name == dtype_policy(config.replace(mixed_precision=True))
    assert mixed.dtype_policy.variable_dtype == "float32" and mixed.jit_compile is True
    assert keras.config.dtype_policy().name == "float32"
    plain = app.make_model(config.replace(jit_compile="off"), data)
    assert plain.dtype_policy.name == "float32" and plain.jit_compile is False


def test_an_unknown_jit_setting_is_refused():
    with pytest.raises(ConfigError, match="--jit-compile must be one of auto, on, off"):
        DigitsApp().tiny_config().replace(jit_compile="yes").validate()
