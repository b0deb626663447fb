import pytest

from apps.sentiment.app import SentimentApp


def tiny_config(**changes):
    """The app's tiny config (seconds to train), with `changes`."""
    return SentimentApp().tiny_config().replace(**changes)


@pytest.fixture
def app():
    return SentimentApp()


@pytest.fixture(scope="package")
def trained_run(tmp_path_factory):
    """One tiny transformer trained through the workflow, shared by the package's tests."""
    from apps.core import workflow

    run_dir = tmp_path_factory.mktemp("sentiment_run")
    run, metrics = workflow.train(SentimentApp(), tiny_config(), run_dir, verbose=False)
    return run, metrics
