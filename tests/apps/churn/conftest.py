import pytest

from apps.churn.app import ChurnApp
from apps.churn.builtin import generate_telco_table
from apps.churn.config import ChurnConfig


def tiny_config(**changes):
    """A config that trains in seconds: 400 generated rows, a narrow net, two epochs."""
    base = ChurnConfig(data="builtin", builtin_rows=400, epochs=2, batch_size=64, depth=1, width=8,
                       numeric_bins=4, patience=2, seed=3)
    return base.replace(**changes)


def write_csv(frame, path):
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def telco_frame():
    """300 generated Telco rows as strings, like a freshly read CSV."""
    return generate_telco_table(300, seed=5)


@pytest.fixture
def app():
    return ChurnApp()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One tiny trained run (through the workflow) shared by the tests of a module."""
    from apps.core import workflow

    run_dir = tmp_path_factory.mktemp("churn_run")
    run, metrics = workflow.train(ChurnApp(), tiny_config(), run_dir, verbose=False)
    return run, metrics
