"""The churn model: in-model preprocessing fitted on training rows, save/load, workflow, export."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.churn.app import request_features
from apps.churn.data import as_model_inputs, load_builtin_table, make_splits
from apps.churn.evaluation import predict_probabilities
from apps.churn.model import class_balance_alpha, get_threshold, make_loss
from apps.churn.table import parse_table
from apps.core import workflow

from tests.apps.churn.churn_helpers import tiny_config


@pytest.fixture(scope="module")
def splits():
    config = tiny_config()
    return config, make_splits(load_builtin_table(config), config)


def predict_rows(model, features):
    return np.asarray(model.predict(tf.data.Dataset.from_tensor_slices(as_model_inputs(features)).batch(64),
                                    verbose=0)).ravel()


def one_row(table, index=0):
    return {name: values[index:index + 1].copy() for name, values in table.features.items()}


def test_preprocessing_is_fitted_on_the_training_split_only(app, splits):
    config, data = splits
    model = app.build_model(config, data)
    train = data.info["train_features"]
    vocabulary = model.get_layer("PaymentMethod_lookup").get_vocabulary()
    assert vocabulary == ["[UNK]"] + sorted(set(train["PaymentMethod"]))
    normalizer = model.get_layer("tenure_normalize")
    assert float(np.ravel(normalizer.mean)[0]) == pytest.approx(float(np.nanmean(train["tenure"])), rel=1e-4)
    assert model.get_layer("TotalCharges_impute").fill_value == pytest.approx(
        float(np.nanmedian(train["TotalCharges"])))


@pytest.mark.parametrize("encoding", ["piecewise_linear", "one_hot"])
def test_numeric_bins_follow_the_training_quantiles(app, splits, encoding):
    config, data = splits
    config = config.replace(numeric_encoding=encoding)
    model = app.build_model(config, data)
    bins = model.get_layer("MonthlyCharges_bins")
    charges = np.asarray(data.info["train_features"]["MonthlyCharges"], "float64")
    edges = np.quantile(charges[~np.isnan(charges)], np.linspace(0, 1, config.numeric_bins + 1))
    encoder = keras.Model(model.input, bins.output)
    row = one_row(data.info["test_table"])
    row["MonthlyCharges"][0] = (edges[1] + edges[2]) / 2  # halfway through the second bin
    encoded = np.asarray(encoder.predict(tf.data.Dataset.from_tensor_slices(as_model_inputs(row)).batch(1),
                                         verbose=0))[0]
    if encoding == "one_hot":
        assert isinstance(bins, keras.layers.Discretization) and encoded.argmax() == 1 and encoded.sum() == 1
    else:
        np.testing.assert_allclose(bins.bin_edges, edges, rtol=1e-6)
        np.testing.assert_allclose(encoded, [1.0, 0.5] + [0.0] * (config.numeric_bins - 2), atol=1e-5)


def test_unknown_categories_and_missing_numbers_are_served(app, splits):
    config, data = splits
    model = app.build_model(config, data)
    row = one_row(data.info["test_table"])
    row["Contract"][0] = "Three year"          # never seen: out-of-vocabulary bucket
    row["gender"][0] = ""                       # blank category
    row["TotalCharges"][0] = np.nan             # blank number: imputed
    row["tenure"][0] = np.nan
    probability = predict_rows(model, row)
    assert probability.shape == (1,) and np.isfinite(probability).all() and 0 <= probability[0] <= 1


def test_class_weighting_goes_through_the_loss():
    assert class_balance_alpha("none", 0.25) is None
    assert class_balance_alpha("balanced", 0.25) == pytest.approx(0.75)
    assert 0.5 < class_balance_alpha("sqrt", 0.25) < 0.75
    assert isinstance(make_loss(tiny_config(), 0.25), keras.losses.BinaryCrossentropy)
    focal = make_loss(tiny_config(class_weighting="balanced", focal_gamma=2.0), 0.25)
    assert isinstance(focal, keras.losses.BinaryFocalCrossentropy)
    assert focal.alpha == pytest.approx(0.75) and focal.gamma == 2.0 and focal.apply_class_balancing


def test_hypermodel_chooses_config_values(app, splits):
    import keras_tuner

    config, data = splits
    hypermodel = app.hypermodel(config, data)
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert {"depth", "width", "dropout", "learning_rate", "class_weighting"} <= set(hp.values)
    chosen = hypermodel.config_for(hp)
    assert len([layer for layer in model.layers if layer.name.startswith("residual_block")]) == chosen.depth


def test_run_folder_holds_metrics_plots_and_the_threshold(trained_run):
    run, metrics = trained_run
    for name in ("config.json", "model.keras", "metrics.json", "roc_curve.png", "pr_curve.png",
                 "calibration.png", "confusion_matrix.png", "learning_curves_member_1.png",
                 "learning_curves_member_2.png", "members/member_1/history.csv",
                 "members/member_2/model.weights.h5"):
        assert (run.path / name).exists(), name
    assert any((run.path / "members" / "member_2" / "logs").rglob("events.out.tfevents.*"))
    saved = json.loads(run.metrics_path.read_text())
    for key in ("roc_auc", "pr_auc", "precision", "recall", "f1", "threshold", "brier"):
        assert 0.0 <= saved[key] <= 1.0, key
    assert saved["split"] == "test" and saved["examples"] == 80
    assert sum(map(sum, saved["confusion_matrix"])) == 80
    model = keras.saving.load_model(run.model_path)
    assert get_threshold(model) == pytest.approx(saved["threshold"])


def test_keras_file_round_trip_keeps_predictions(app, trained_run):
    run, _ = trained_run
    config = run.load_config(app.config_class)
    data = app.load_data(config)
    model = keras.saving.load_model(run.model_path)
    reloaded = keras.saving.load_model(run.model_path)
    test = data.info["test_table"]
    np.testing.assert_allclose(predict_probabilities(model, test), predict_probabilities(reloaded, test),
                               rtol=1e-6)
    _, metrics = workflow.evaluate(app, run.path)
    assert metrics["roc_auc"] == pytest.approx(json.loads(run.metrics_path.read_text())["roc_auc"])


def test_export_then_serve_signature_matches_predict(app, trained_run, tmp_path):
    run, _ = trained_run
    path = workflow.export(app, run.path, tmp_path)
    config = run.load_config(app.config_class)
    model = keras.saving.load_model(run.model_path)
    request = app.sample_requests(config)[0]
    raw = dict(request.inputs)
    raw["PaymentMethod"] = np.array(["Bitcoin", *raw["PaymentMethod"][1:]], dtype=object)  # unknown
    raw["TotalCharges"] = np.array([np.nan, *raw["TotalCharges"][1:]], dtype=np.float32)   # blank
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    assert set(specs) == {column.name for column in app.load_data(config).info["columns"]}
    assert all(spec.shape.as_list() == [None] for spec in specs.values())
    assert specs["tenure"].dtype == tf.float32 and specs["Contract"].dtype == tf.string
    outputs = signature(**{name: tf.constant(values) for name, values in raw.items()})
    expected = predict_rows(model, raw)
    np.testing.assert_allclose(outputs["churn_probability"].numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(outputs["churn"].numpy(), expected >= get_threshold(model))


def test_rest_instances_use_the_csv_column_names(app):
    request = app.sample_requests(tiny_config())[0]
    body = request.as_rest_instances()
    first = body["instances"][0]
    assert isinstance(first["gender"], str) and isinstance(first["tenure"], float)
    assert "Churn" not in first and "customerID" not in first


def test_cli_requests_from_csv_and_json(app, tmp_path, telco_frame, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no models/ folder here: the default config's columns are used
    monkeypatch.setattr(type(app), "default_config", lambda self: tiny_config())
    path = tmp_path / "customers.csv"
    telco_frame.head(2).to_csv(path, index=False)
    row = telco_frame.iloc[2].to_dict()
    row["tenure"], row["TotalCharges"] = 7, None
    items = [str(path), json.dumps(row)]
    request = app.request_from_cli(items)
    assert len(request.inputs["tenure"]) == 3 and request.inputs["tenure"][2] == 7.0
    assert np.isnan(request.inputs["TotalCharges"][2])
    assert "Churn" not in request.inputs
    outputs = {"churn_probability": np.array([0.9, 0.1, 0.5]), "churn": np.array([True, False, True])}
    text = app.format_response(outputs, items)
    assert text.splitlines()[0].startswith(telco_frame["customerID"][0]) and "churns" in text


def test_column_names_tensorflow_rejects_become_valid_input_names(app, telco_frame):
    frame = telco_frame.rename(columns={"MonthlyCharges": "Monthly Charges ($)", "Contract": "_contract"})
    config = tiny_config(crosses="none")
    table = parse_table(frame, config, "test")
    names = {column.name: column.input_name for column in table.columns}
    assert names["Monthly Charges ($)"] == "Monthly_Charges____" and names["_contract"] == "x_contract"
    data = make_splits(table, config)
    model = app.build_model(config, data)
    assert {"Monthly_Charges____", "x_contract"} <= set(model.input)
    assert np.isfinite(predict_probabilities(model, data.info["test_table"])).all()
    features = request_features(frame.head(2), table.columns)  # found by CSV name
    assert features["Monthly_Charges____"].dtype == np.float32
