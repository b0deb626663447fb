import pytest

from apps.core.config import AppConfig
from apps.core.registry import AppEntry, AppRegistry


class FakeApp:
    name = "fake"
    title = "A fake app"
    objective = "val_loss"
    config_class = AppConfig


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
        registry.add(AppEntry("tests.apps.core.test_registry:FakeApp"))


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


UNIMPORTABLE_APP = """
from apps.core.config import AppConfig

raise RuntimeError("the registry imported the app's module")


class LazyApp:
    name = "lazy"
    title = "Read from the source"
    objective = "val_score"
    config_class = AppConfig
"""


def test_an_entry_reads_its_class_from_the_source_without_importing_it(tmp_path, monkeypatch):
    (tmp_path / "lazy_app.py").write_text(UNIMPORTABLE_APP)
    monkeypatch.syspath_prepend(str(tmp_path))
    entry = AppEntry("lazy_app:LazyApp")
    registry = AppRegistry()
    registry.add(entry)
    assert (entry.name, entry.title, entry.objective, entry.config_class) == (
        "lazy",
        "Read from the source",
        "val_score",
        AppConfig,
    )
    with pytest.raises(RuntimeError, match="imported the app's module"):
        registry.get("lazy")


def test_an_entry_names_what_its_class_does_not_declare(tmp_path, monkeypatch):
    (tmp_path / "bare_app.py").write_text("class BareApp:\n    name = 'bare'\n    title = f'{1}'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ValueError, match="must assign title, objective, config_class"):
        _ = AppEntry("bare_app:BareApp").name


def test_catalog_registers_every_app_lazily():
    from apps.catalog import load_apps

    registry = load_apps()
    assert {"digits", "churn", "sentiment"} <= set(registry.names())
    assert registry.entry("churn").config_class.__name__ == "ChurnConfig"
    assert registry.entry("churn").objective == "val_auc"
