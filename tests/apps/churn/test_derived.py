"""Engineered Telco billing features: computed by the model from raw columns, adapted on training rows."""

import numpy as np
import pytest

from apps.churn.data import load_builtin_table, make_splits
from apps.churn.derived import derived_training_values, telco_charge_features
from apps.churn.model import build_network
from apps.churn.preprocessing import model_inputs
from apps.churn.table import CATEGORICAL, Column

from tests.apps.churn.churn_helpers import tiny_config

SERVICES = ("PhoneService", "MultipleLines", "OnlineSecurity", "OnlineBackup", "DeviceProtection",
            "TechSupport", "StreamingTV", "StreamingMovies")


@pytest.fixture(scope="module")
def table():
    return load_builtin_table(tiny_config())


def expected_features(features):
    """The same features computed with numpy."""
    tenure, monthly, total = (features[name].astype(np.float64) for name in ("tenure", "MonthlyCharges",
                                                                             "TotalCharges"))
    services = sum((features[name] == "Yes").astype(int) for name in SERVICES)
    services = services + (features["InternetService"] != "No").astype(int)
    return {
        "log_total_charges": np.log1p(total),
        "log_tenure": np.log1p(tenure),
        "charges_drift": total - tenure * monthly,
        "charges_per_service": monthly / (1 + services),
    }


def test_derived_features_match_their_formulas_and_keep_blanks_missing(table):
    values = derived_training_values(table.columns, table.features, "auto")
    expected = expected_features(table.features)
    assert sorted(values) == sorted(expected)
    for name, array in values.items():
        np.testing.assert_allclose(array, expected[name], rtol=1e-4, atol=1e-2, err_msg=name)
    blank_total = np.isnan(table.features["TotalCharges"])
    assert np.isnan(values["log_total_charges"][blank_total]).all()


def test_derived_none_and_tables_without_the_telco_columns_add_nothing(table):
    assert derived_training_values(table.columns, table.features, "none") == {}
    other = [Column("plan", CATEGORICAL, "plan")]
    assert telco_charge_features(model_inputs(other), other) == {}


def test_the_model_computes_them_from_raw_inputs_and_adapts_on_training_rows():
    config = tiny_config(derived="auto")
    data = make_splits(load_builtin_table(config), config)
    model = build_network(data.info["columns"], data.info["train_features"], config)
    train_values = derived_training_values(data.info["columns"], data.info["train_features"], "auto")
    normalizer = model.get_layer("charges_drift_normalize")
    present = train_values["charges_drift"][~np.isnan(train_values["charges_drift"])]
    median = float(np.median(present))
    filled = np.where(np.isnan(train_values["charges_drift"]), median, train_values["charges_drift"])
    assert float(np.ravel(normalizer.mean)[0]) == pytest.approx(float(filled.mean()), rel=1e-3)
    assert sorted(model.input) == sorted(column.input_name for column in data.info["columns"])


def test_unknown_derived_choice_is_rejected():
    with pytest.raises(ValueError, match="derived"):
        tiny_config(derived="all")
