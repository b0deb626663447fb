import pytest

from apps.core.registry import AppEntry, AppRegistry


class FakeApp:
    name = "fake"
    title = "A fake app"


def test_register_and_get_returns_instance():
    registry = AppRegistry()
    registry.register(FakeApp)
    assert isinstance(registry.get("fake"), FakeApp)
    assert registry.names() == ["fake"]
    assert "fake" in registry


def test_duplicate_names_are_refused_for_classes_and_entries():
    registry = AppRegistry()
    registry.register(FakeApp)

    class Twin:
        name = "fake"

    with pytest.raises(ValueError, match="already registered"):
        registry.register(Twin)
    with pytest.raises(ValueError, match="already registered"):
        registry.add(AppEntry("fake", "x:Y", "x:Z"))


def test_unknown_name_lists_registered_apps():
    registry = AppRegistry()
    registry.register(FakeApp)
    with pytest.raises(KeyError, match="Registered apps: fake"):
        registry.get("nope")


def test_app_without_name_is_refused():
    class Nameless:
        pass

    with pytest.raises(ValueError, match="no `name`"):
        AppRegistry().register(Nameless)


def test_an_entry_that_disagrees_with_its_class_is_refused():
    registry = AppRegistry()
    registry.add(AppEntry("digits", "apps.digits.app:DigitsApp", "apps.digits.config:DigitsConfig",
                          title="Something else", objective="val_accuracy"))
    with pytest.raises(ValueError, match="title"):
        registry.get("digits")


def test_catalog_registers_every_app_lazily():
    from apps.catalog import load_apps

    registry = load_apps()
    assert {"digits", "churn", "sentiment"} <= set(registry.names())
    assert registry.entry("churn").config_class.__name__ == "ChurnConfig"
