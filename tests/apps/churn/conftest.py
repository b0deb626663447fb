import pytest

from apps.churn.app import ChurnApp
from apps.churn.builtin import generate_telco_table
from tests.apps.churn.churn_helpers import tiny_config


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
