"""Churn preprocessing: fitted on the training rows only, raw columns encoded by TensorFlow."""

import json

import keras
import numpy as np
import pytest

from apps.churn.data import load_builtin_table, make_splits
from apps.churn.preprocessing import ChurnPreprocessing
from layers import PiecewiseLinearEncoding
from tests.apps.churn.churn_helpers import encode, encoded_columns, rows, tiny_config


@pytest.fixture(scope="module")
def splits():
    config = tiny_config(ensemble=1)
    return config, make_splits(load_builtin_table(config), config)


def number(preprocessing, name):
    return next(encoding for encoding in preprocessing.numbers if encoding.name == name)


def test_preprocessing_is_fitted_on_the_training_split_only(splits):
    _, data = splits
    preprocessing, train = data.info.preprocessing, data.info.train_table.features
    payment = next(encoding for encoding in preprocessing.categories if encoding.name == "PaymentMethod")
    assert payment.vocabulary == sorted(set(train["PaymentMethod"]))
    assert number(preprocessing, "tenure").mean == pytest.approx(float(np.mean(train["tenure"])), rel=1e-5)
    assert number(preprocessing, "MonthlyCharges").std == pytest.approx(
        float(np.std(train["MonthlyCharges"])), rel=1e-5
    )


@pytest.mark.parametrize("encoding", ["piecewise_linear", "one_hot"])
def test_numeric_bins_follow_the_training_quantiles(splits, encoding):
    config, data = splits
    config = config.replace(numeric_encoding=encoding)
    train = data.info.train_table
    preprocessing = ChurnPreprocessing.fit(train.columns, train.features, config)
    edges = np.asarray(number(preprocessing, "MonthlyCharges").bin_edges)
    charges = train.features["MonthlyCharges"].astype(np.float64)
    np.testing.assert_allclose(edges, np.quantile(charges, np.linspace(0, 1, config.numeric_bins + 1)), rtol=1e-6)
    test = rows(data.info.test_table, range(40))
    values = test["MonthlyCharges"][:, None]
    if encoding == "one_hot":
        expected = np.eye(len(edges) - 1)[np.searchsorted(edges[1:-1], values[:, 0], side="right")]
    else:  # the encoding of layers.PiecewiseLinearEncoding, computed in the tf.data pipeline
        expected = keras.ops.convert_to_numpy(PiecewiseLinearEncoding(edges.tolist())(values))
    encoded = encode(preprocessing, test)[:, encoded_columns(preprocessing, "MonthlyCharges_bin_")]
    np.testing.assert_allclose(encoded, expected, atol=1e-5)


def test_unknown_categories_and_missing_numbers_are_encoded(splits):
    config, data = splits
    train = rows(data.info.train_table, range(len(data.info.train_table)))
    train["TotalCharges"][:3] = np.nan  # blanks in training: a missing flag
    preprocessing = ChurnPreprocessing.fit(data.info.columns, train, config)
    row = rows(data.info.test_table, [0])
    row["Contract"][0] = "Three year"  # never seen: the out-of-vocabulary bucket
    row["gender"][0] = ""
    row["TotalCharges"][0] = np.nan  # missing: the training median, flagged
    encoded = encode(preprocessing, row)[0]
    names = preprocessing.encoded_names()
    assert encoded.shape == (preprocessing.output_size,) == (len(names),) and np.isfinite(encoded).all()
    contract = encoded[encoded_columns(preprocessing, "Contract=")]
    assert contract.sum() == 1 and encoded[names.index("Contract=[UNK]")] == 1
    assert encoded[names.index("gender=[UNK]")] == 1
    total = number(preprocessing, "TotalCharges")
    assert total.median == pytest.approx(float(np.nanmedian(train["TotalCharges"])))
    assert encoded[names.index("TotalCharges")] == pytest.approx((total.median - total.mean) / total.std, abs=1e-5)
    assert encoded[names.index("TotalCharges_missing")] == 1


def test_the_preprocessing_round_trips_through_its_json_config(splits):
    _, data = splits
    preprocessing = data.info.preprocessing
    again = ChurnPreprocessing.from_config(json.loads(json.dumps(preprocessing.get_config())))
    test = rows(data.info.test_table, range(20))
    np.testing.assert_array_equal(encode(again, test), encode(preprocessing, test))
    crosses = encoded_columns(preprocessing, "Contract*InternetService#")
    assert len(crosses) == preprocessing.crosses[0].bins and (encode(again, test)[:, crosses].sum(axis=1) == 1).all()


def test_categories_and_crosses_encode_as_the_keras_preprocessing_layers(splits):
    _, data = splits
    preprocessing = data.info.preprocessing
    test = rows(data.info.test_table, range(40))
    test["Contract"][0] = "Three year"
    encoded = encode(preprocessing, test)
    contract = next(encoding for encoding in preprocessing.categories if encoding.name == "Contract")
    lookup = keras.layers.StringLookup(vocabulary=contract.vocabulary, num_oov_indices=1, output_mode="one_hot")
    np.testing.assert_array_equal(
        encoded[:, encoded_columns(preprocessing, "Contract=")], keras.ops.convert_to_numpy(lookup(test["Contract"]))
    )
    cross = preprocessing.crosses[0]
    crossing = keras.layers.HashedCrossing(cross.bins, output_mode="one_hot")
    expected = keras.ops.convert_to_numpy(crossing((test[cross.first], test[cross.second])))
    np.testing.assert_array_equal(
        encoded[:, encoded_columns(preprocessing, f"{cross.first}*{cross.second}#")], expected
    )
