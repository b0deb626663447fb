import pytest

from apps.digits.app import DigitsApp


def tiny_config(**changes):
    """The app's tiny config (256 builtin digits, width 4, one epoch), with `changes`."""
    return DigitsApp().tiny_config().replace(**changes)


@pytest.fixture
def app():
    return DigitsApp()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """The session's tiny run (`tests.apps.tiny_runs`): read it, or write into a copy."""
    from tests.apps import tiny_runs

    return tiny_runs.trained(DigitsApp(), tmp_path_factory)
