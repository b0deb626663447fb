import pytest

from apps.sentiment.app import SentimentApp


def tiny_config(**changes):
    """The app's tiny config (seconds to train), with `changes`."""
    return SentimentApp().tiny_config().replace(**changes)


@pytest.fixture
def app():
    return SentimentApp()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """The session's tiny transformer run (`tests.apps.tiny_runs`), read-only."""
    from tests.apps import tiny_runs

    return tiny_runs.trained(SentimentApp(), tmp_path_factory)
