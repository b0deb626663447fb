import pytest

from apps.core.registry import AppRegistry


class FakeApp:
    name = "fake"
    title = "A fake app"


def test_register_and_get_returns_instance():
    registry = AppRegistry()
    registry.register(FakeApp)
    assert isinstance(registry.get("fake"), FakeApp)
    assert registry.names() == ["fake"]
    assert "fake" in registry


def test_duplicate_names_are_refused():
    registry = AppRegistry()
    registry.register(FakeApp)

    class Twin:
        name = "fake"

    with pytest.raises(ValueError, match="already registered"):
        registry.register(Twin)


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


def test_catalog_registers_the_digits_app():
    from apps.catalog import load_apps

    assert "digits" in load_apps()
