import pytest

from apps.digits.app import DigitsApp


def tiny_config(**changes):
    """The app's tiny config (256 builtin digits, width 4, one epoch), with `changes`."""
    return DigitsApp().tiny_config().replace(**changes)


@pytest.fixture
def app():
    return DigitsApp()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny trained run shared by the tests of a module."""
    from apps.core import workflow

    run_dir = tmp_path_factory.mktemp("run")
    run, metrics = workflow.train(DigitsApp(), tiny_config(), run_dir, verbose=False)
    return run, metrics
