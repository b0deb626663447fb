"""Engineered Telco billing features: computed from raw columns, fitted on training rows."""

import numpy as np
import pytest
import tensorflow as tf

from apps.churn.data import load_builtin_table, make_splits
from apps.churn.derived import telco_charge_features
from apps.churn.preprocessing import derived_training_values
from apps.churn.table import CATEGORICAL, Column
from tests.apps.churn.churn_helpers import encode, rows, tiny_config

SERVICES = (
    "PhoneService",
    "MultipleLines",
    "OnlineSecurity",
    "OnlineBackup",
    "DeviceProtection",
    "TechSupport",
    "StreamingTV",
    "StreamingMovies",
)


@pytest.fixture(scope="module")
def table():
    return load_builtin_table(tiny_config())


def expected_features(features):
    """The same features computed with numpy."""
    tenure, monthly, total = (
        features[name].astype(np.float64) for name in ("tenure", "MonthlyCharges", "TotalCharges")
    )
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
    assert telco_charge_features({"plan": tf.constant(["basic"])}, other) == {}


def test_the_preprocessing_computes_them_from_raw_columns_fitted_on_training_rows(table):
    config = tiny_config(derived="auto", ensemble=1)
    data = make_splits(table, config)
    preprocessing = data.info.preprocessing
    train = data.info.train_table
    drift = next(number for number in preprocessing.numbers if number.name == "charges_drift")
    train_drift = expected_features(train.features)["charges_drift"]
    filled = np.where(np.isnan(train_drift), np.nanmedian(train_drift), train_drift)
    assert drift.derived and drift.mean == pytest.approx(filled.mean(), rel=1e-3)
    test = data.info.test_table
    encoded = encode(preprocessing, rows(test, range(5)))[:, preprocessing.encoded_names().index("charges_drift")]
    raw_drift = expected_features(rows(test, range(5)))["charges_drift"]
    np.testing.assert_allclose(
        encoded, (np.where(np.isnan(raw_drift), drift.median, raw_drift) - drift.mean) / drift.std, rtol=1e-3, atol=1e-3
    )


def test_unknown_derived_choice_is_rejected():
    with pytest.raises(ValueError, match="derived"):
        tiny_config(derived="all")
