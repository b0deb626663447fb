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


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """One tiny cross-fitted ensemble trained through the workflow on the current backend,
    shared by every test of the session that only reads it."""
    from apps.core import workflow

    run, metrics = workflow.train(ChurnApp(), tiny_config(), tmp_path_factory.mktemp("churn") / "run",
                                  verbose=False)
    return run, metrics


@pytest.fixture(scope="session")
def exported(trained_run, tmp_path_factory):
    """The trained run exported as a SavedModel (on JAX/PyTorch, by a TensorFlow subprocess)."""
    from apps.core import workflow

    return workflow.export(ChurnApp(), trained_run[0].path, tmp_path_factory.mktemp("churn_models"))
