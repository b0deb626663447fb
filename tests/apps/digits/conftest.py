import pytest

from apps.digits.app import DigitsApp
from apps.digits.config import DigitsConfig


def tiny_config(**changes):
    """A config that trains in seconds: 256 builtin digits, width 4, one epoch."""
    base = DigitsConfig(data="builtin", epochs=1, batch_size=64, width=4, max_examples=256,
                        validation_fraction=0.25, seed=11)
    return base.replace(**changes)


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
