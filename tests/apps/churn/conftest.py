import pytest

from apps.churn.app import ChurnApp
from apps.churn.builtin import generate_telco_table


@pytest.fixture
def telco_frame():
    """300 generated Telco rows as strings, like a freshly read CSV."""
    return generate_telco_table(300, seed=5)


@pytest.fixture
def app():
    return ChurnApp()


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """The session's tiny cross-fitted ensemble on the current backend (`tests.apps.tiny_runs`),
    read-only."""
    from tests.apps import tiny_runs

    return tiny_runs.trained(ChurnApp(), tmp_path_factory)


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """The session's run exported as a SavedModel (on JAX/PyTorch, by a TensorFlow subprocess)."""
    from tests.apps import tiny_runs

    return tiny_runs.exported(ChurnApp(), tmp_path_factory)[1]
