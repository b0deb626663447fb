"""Reading churn tables: types, labels, bad rows, splits, and the builtin generator."""

import numpy as np
import pytest

from apps.churn.builtin import TELCO_COLUMNS, TELCO_NUMERIC_COLUMNS, generate_telco_frame
from apps.churn.config import ChurnConfig
from apps.churn.data import load_builtin_table, load_csv_table, make_splits, split_table
from apps.churn.table import (
    CATEGORICAL,
    NUMERIC,
    ChurnDataError,
    cross_fit_indices,
    parse_column_types,
    parse_table,
    sanitize_input_name,
    stratified_split_indices,
)
from tests.apps.churn.churn_helpers import tiny_config, write_csv


def kinds(table):
    return {column.name: column.kind for column in table.columns}


def test_types_are_inferred_and_label_and_id_dropped(telco_frame):
    table = parse_table(telco_frame, tiny_config(), "test")
    assert set(kinds(table)) == set(TELCO_COLUMNS) - {"customerID", "Churn"}
    assert {name for name, kind in kinds(table).items() if kind == NUMERIC} == set(TELCO_NUMERIC_COLUMNS)
    assert table.features["tenure"].dtype == np.float32
    assert table.features["Contract"].dtype == object
    assert set(np.unique(table.labels)) == {0.0, 1.0}
    assert table.negative_label == "No"


def test_column_types_override_and_ignore(telco_frame):
    config = tiny_config(column_types="SeniorCitizen=categorical, gender=ignore")
    table = parse_table(telco_frame, config, "test")
    assert kinds(table)["SeniorCitizen"] == CATEGORICAL
    assert set(table.features["SeniorCitizen"]) <= {"0", "1"}
    assert "gender" not in kinds(table)


@pytest.mark.parametrize("text", ["tenure", "tenure=number", "=numeric"])
def test_bad_column_types_are_rejected(text):
    with pytest.raises(ValueError, match="column_types"):
        parse_column_types(text)


def test_column_types_naming_an_unknown_column_is_an_error(telco_frame):
    with pytest.raises(ChurnDataError, match="Tenure"):
        parse_table(telco_frame, tiny_config(column_types="Tenure=numeric"), "test")


def test_blank_numbers_become_missing(telco_frame):
    telco_frame.loc[[3, 7], "TotalCharges"] = [" ", ""]
    telco_frame.loc[9, "MonthlyCharges"] = "NA"
    table = parse_table(telco_frame, tiny_config(), "test")
    assert np.isnan(table.features["TotalCharges"][[3, 7]]).all()
    assert np.isnan(table.features["MonthlyCharges"][9])
    assert kinds(table)["TotalCharges"] == NUMERIC


def test_unparsable_number_is_an_error_naming_row_and_column(telco_frame, tmp_path):
    telco_frame.loc[12, "TotalCharges"] = "12,5O"
    path = write_csv(telco_frame, tmp_path / "bad.csv")
    with pytest.raises(ChurnDataError, match=r"Row 12 \(CSV line 14\), column 'TotalCharges'.*'12,5O'"):
        load_csv_table(path, tiny_config())


def test_unparsable_number_can_be_imputed(telco_frame):
    telco_frame.loc[12, "TotalCharges"] = "twelve"
    with pytest.warns(UserWarning, match="Row 12.*TotalCharges.*imputed"):
        table = parse_table(telco_frame, tiny_config(bad_numbers="impute"), "test")
    assert np.isnan(table.features["TotalCharges"][12])


def test_missing_label_column_is_a_clear_error(telco_frame):
    with pytest.raises(ChurnDataError, match="label column 'Churn' is missing"):
        parse_table(telco_frame.drop(columns=["Churn"]), tiny_config(), "test")


def test_blank_label_names_the_row(telco_frame):
    telco_frame.loc[4, "Churn"] = " "
    with pytest.raises(ChurnDataError, match=r"Row 4 \(CSV line 6\), column 'Churn'"):
        parse_table(telco_frame, tiny_config(), "test")


def test_positive_label_must_occur(telco_frame):
    with pytest.raises(ChurnDataError, match="positive_label 'churned'"):
        parse_table(telco_frame, tiny_config(positive_label="churned"), "test")


def test_other_label_and_id_names(telco_frame):
    frame = telco_frame.rename(columns={"Churn": "left", "customerID": "account"})
    frame["left"] = np.where(frame["left"] == "Yes", "1", "0")
    with pytest.raises(ChurnDataError, match="id column 'customerID' is missing"):
        parse_table(frame, tiny_config(label_column="left", positive_label="1"), "test")
    table = parse_table(frame, tiny_config(label_column="left", positive_label="1", id_column="account"), "t")
    assert "account" not in kinds(table)
    assert table.labels.mean() == pytest.approx((frame["left"] == "1").mean())
    no_id = parse_table(frame, tiny_config(label_column="left", positive_label="1", id_column=""), "t")
    assert kinds(no_id)["account"] == CATEGORICAL


def test_names_tensorflow_rejects_are_sanitized():
    assert sanitize_input_name("tenure") == "tenure"
    assert sanitize_input_name("Monthly Charges ($)") == "Monthly_Charges____"
    assert sanitize_input_name("_private") == "x_private"


def test_stratified_splits_are_disjoint_and_keep_the_churn_rate():
    labels = (np.random.default_rng(0).random(2000) < 0.265).astype(np.float32)
    train, validation, test = stratified_split_indices(labels, 0.2, 0.2, seed=1)
    assert len(np.intersect1d(train, test)) == 0 and len(np.intersect1d(validation, test)) == 0
    assert len(train) + len(validation) + len(test) == 2000
    assert len(test) == 400
    for part in (train, validation, test):
        assert labels[part].mean() == pytest.approx(labels.mean(), abs=0.01)
    again = stratified_split_indices(labels, 0.2, 0.2, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip((train, validation, test), again))


def test_cross_fit_folds_partition_the_rows_outside_the_test_split():
    labels = np.r_[np.ones(60), np.zeros(140)]
    folds, test = cross_fit_indices(labels, 0.2, 3, seed=3)
    np.testing.assert_array_equal(test, stratified_split_indices(labels, 0.2, 0.2, 3)[2])  # same test rows
    others = np.setdiff1d(np.arange(200), test)
    np.testing.assert_array_equal(np.sort(np.concatenate([v for _, v in folds])), others)  # each row once
    for train, validation in folds:
        np.testing.assert_array_equal(train, np.setdiff1d(others, validation))
        assert labels[validation].mean() == pytest.approx(0.3, abs=0.03)  # stratified


def test_an_ensemble_trains_on_folds_and_fits_preprocessing_on_all_of_them():
    config = tiny_config(ensemble=3)
    table = load_builtin_table(config)
    data = make_splits(table, config)
    folds = data.info.folds
    assert len(folds) == 3 and len(data.info.test_table) == data.test_examples == 80
    assert all(len(train) + len(validation) == 320 for train, validation in folds)
    assert data.info.validation_table is folds[0][1] and data.validation_examples == len(folds[0][1])
    non_test = np.concatenate([validation.features["tenure"] for _, validation in folds])
    tenure = next(number for number in data.info.preprocessing.numbers if number.name == "tenure")
    assert tenure.mean == pytest.approx(float(non_test.mean()), rel=1e-5)
    assert data.class_names == ("No", "Yes") and data.source.startswith("builtin")
    assert make_splits(table, config.replace(ensemble=1)).info.folds is None


def test_max_examples_caps_training_rows_only(telco_frame):
    table = parse_table(telco_frame, tiny_config(), "test")
    train, _, test = split_table(table, tiny_config(max_examples=50))
    assert len(train) == 50 and len(test) == 60


def test_builtin_generator_has_the_telco_schema_and_real_signal():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    frame = generate_telco_frame(3000, seed=0)
    assert tuple(frame.columns) == TELCO_COLUMNS
    assert 0.2 < (frame["Churn"] == "Yes").mean() < 0.33
    assert (frame["TotalCharges"].isna() == (frame["tenure"] == 0)).all()
    assert generate_telco_frame(50, seed=4).equals(generate_telco_frame(50, seed=4))
    features = np.column_stack(
        [frame["tenure"], frame["Contract"] == "Month-to-month", frame["InternetService"] == "Fiber optic"]
    ).astype(float)
    labels = frame["Churn"] == "Yes"
    model = LogisticRegression().fit(features[:2000], labels[:2000])
    assert roc_auc_score(labels[2000:], model.predict_proba(features[2000:])[:, 1]) > 0.7


def test_config_rejects_unknown_choices():
    with pytest.raises(ValueError, match="class_weighting"):
        ChurnConfig(class_weighting="heavy")
    with pytest.raises(ValueError, match="threshold_metric"):
        ChurnConfig(threshold_metric="accuracy")
    with pytest.raises(ValueError, match="label_column"):
        ChurnConfig(label_column="")
