"""The churn model and app: losses, run folder, save/reload/export on every backend, the
serving signature's row checks, CLI requests."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.churn.app import request_features
from apps.churn.data import make_splits
from apps.churn.evaluation import decoded_predictions
from apps.churn.model import class_balance_alpha, get_threshold, make_loss
from apps.churn.signatures import input_specs
from apps.churn.table import ChurnDataError, parse_table
from apps.core.classification import binary_metrics
from serving.errors import ServingError
from tests.apps.churn.churn_helpers import encode, rows, tiny_config


def test_class_weighting_goes_through_the_loss():
    assert class_balance_alpha("none", 0.25) is None
    assert class_balance_alpha("balanced", 0.25) == pytest.approx(0.75)
    assert 0.5 < class_balance_alpha("sqrt", 0.25) < 0.75
    assert isinstance(make_loss(tiny_config(), 0.25), keras.losses.BinaryCrossentropy)
    focal = make_loss(tiny_config(class_weighting="balanced", focal_gamma=2.0), 0.25)
    assert isinstance(focal, keras.losses.BinaryFocalCrossentropy)
    assert focal.alpha == pytest.approx(0.75) and focal.gamma == 2.0 and focal.apply_class_balancing


def test_hypermodel_chooses_config_values_and_keeps_the_ensemble(app):
    import keras_tuner

    from tuner.hypermodel import ConfigHyperModel

    config = tiny_config(ensemble=3)
    hypermodel = ConfigHyperModel(app, config, app.load_data(config))
    hp = keras_tuner.HyperParameters()
    model = hypermodel.build(hp)
    assert {"depth", "width", "dropout", "learning_rate", "class_weighting"} <= set(hp.values)
    chosen = hypermodel.config_for(hp)
    assert chosen.ensemble == 3
    blocks = [layer.name for layer in model.network.layers if "residual_block" in layer.name]
    assert len(blocks) == 3 * chosen.depth and "member3_residual_block_1" in blocks


def test_unsupported_shared_flags_are_refused():
    from apps.core.config import ConfigError

    for changes in ({"warmup_epochs": 1.0}, {"first_cycle_epochs": 2.0}, {"validation_fraction": 0.3}):
        with pytest.raises(ConfigError, match=next(iter(changes)).replace("_", "-")):
            tiny_config(**changes).validate()
    assert tiny_config(ensemble=1, validation_fraction=0.3).validate().validation_fraction == 0.3


def test_run_folder_holds_metrics_plots_and_the_threshold(trained_run):
    run, metrics = trained_run
    for name in (
        "config.json",
        "model.keras",
        "metrics.json",
        "roc_curve.png",
        "pr_curve.png",
        "calibration.png",
        "confusion_matrix.png",
        "learning_curves_member_1.png",
        "learning_curves_member_2.png",
        "members/member_1/history.csv",
        "members/member_2/model.weights.h5",
    ):
        assert (run.path / name).exists(), name
    assert any((run.path / "members" / "member_2" / "logs").rglob("events.out.tfevents.*"))
    saved = json.loads(run.metrics_path.read_text())
    for key in ("roc_auc", "pr_auc", "precision", "recall", "f1", "threshold", "brier"):
        assert 0.0 <= saved[key] <= 1.0, key
    assert saved["split"] == "test" and saved["examples"] == 80
    assert sum(map(sum, saved["confusion_matrix"])) == 80


def test_a_run_reloads_and_exports_with_one_raw_input_per_column(app, trained_run, exported):
    """Trained on this backend, saved, re-loaded; exported by TensorFlow (a subprocess on
    JAX/PyTorch) with the raw-column signature, which answers as the re-loaded model does."""
    run, metrics = trained_run
    config = run.load_config(app.config_class)
    model = keras.saving.load_model(run.model_path)
    assert get_threshold(model) == pytest.approx(metrics["threshold"])
    data = app.load_data(config)
    raw = rows(data.info.test_table, range(6))
    raw["PaymentMethod"][0] = "Bitcoin"  # unknown category
    raw["TotalCharges"][1] = np.nan  # missing number
    test = data.info.test_table
    expected = decoded_predictions(model, test, app.decode_predictions)
    assert binary_metrics(test.labels, expected["churn_probability"], expected["churn"])["roc_auc"] == (
        pytest.approx(metrics["roc_auc"])
    )  # the weights were saved and re-loaded
    signature = tf.saved_model.load(str(exported)).signatures["serving_default"]
    specs = signature.structured_input_signature[1]
    assert set(specs) == {column.input_name for column in data.info.columns}
    assert all(spec.shape.as_list() == [None] for spec in specs.values())
    assert specs["tenure"].dtype == tf.float32 and specs["Contract"].dtype == tf.string
    outputs = signature(**{name: tf.constant(values) for name, values in raw.items()})
    assert set(outputs) == {"churn_probability", "churn"} and outputs["churn"].dtype == tf.bool
    probabilities = outputs["churn_probability"].numpy()
    np.testing.assert_allclose(probabilities[2:], expected["churn_probability"][2:6], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(outputs["churn"].numpy(), probabilities >= get_threshold(model))
    assert np.isfinite(probabilities).all()


def bad_request(app, config):
    raw = {name: values.copy() for name, values in app.sample_requests(config)[0].inputs.items()}
    raw["MonthlyCharges"][1] = np.inf
    raw["TotalCharges"][2] = -np.inf
    raw["tenure"][2] = np.nan  # missing: allowed
    return raw


def test_the_signature_refuses_non_finite_numbers_and_empty_rows(app, exported):
    signature = tf.saved_model.load(str(exported)).signatures["serving_default"]
    raw = bad_request(app, tiny_config())
    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match=r"row 1, column MonthlyCharges: inf is not a finite number.*; "
        r"row 2, column TotalCharges: -inf is not a finite number",
    ) as error:
        signature(**{name: tf.constant(values) for name, values in raw.items()})
    assert "tenure" not in error.value.message
    empty = {name: values[:1].copy() for name, values in raw.items()}
    for values in empty.values():
        values[0] = np.nan if values.dtype.kind == "f" else " "
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"row 0: every column is missing"):
        signature(**{name: tf.constant(values) for name, values in empty.items()})
    many = {name: np.tile(values, 3) for name, values in raw.items()}
    many["MonthlyCharges"][:] = np.inf
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"row 3, column MonthlyCharges: inf [^;]*; and 7 more\]"):
        signature(**{name: tf.constant(values) for name, values in many.items()})


def test_the_server_runtime_answers_bad_rows_with_invalid_argument(app, exported):
    """The session runtime behind `kapps serve`'s REST and gRPC APIs: status 400, the rows named."""
    from serving.servable import SavedModelServable

    servable = SavedModelServable("churn", 1, exported)
    try:
        good = app.sample_requests(tiny_config())[0].inputs
        assert np.isfinite(servable.run("serving_default", good)["churn_probability"]).all()
        with pytest.raises(ServingError) as error:
            servable.run("serving_default", bad_request(app, tiny_config()))
    finally:
        servable.close()
    assert error.value.http_status == 400 and error.value.code_name == "INVALID_ARGUMENT"
    assert "row 1, column MonthlyCharges: inf is not a finite number" in error.value.message


def test_rest_instances_use_the_csv_column_names(app):
    request = app.sample_requests(tiny_config())[0]
    first = request.as_rest_instances()["instances"][0]
    assert isinstance(first["gender"], str) and isinstance(first["tenure"], float)
    assert "Churn" not in first and "customerID" not in first


def test_cli_requests_from_csv_and_json(app, tmp_path, telco_frame):
    path = tmp_path / "customers.csv"
    telco_frame.head(2).to_csv(path, index=False)
    row = telco_frame.iloc[2].to_dict()
    row["tenure"], row["TotalCharges"], row["MonthlyCharges"] = 7, None, "1e400"
    items = [str(path), json.dumps(row)]
    request = app.request_from_cli(items)
    assert len(request.inputs["tenure"]) == 3 and request.inputs["tenure"][2] == 7.0
    assert np.isnan(request.inputs["TotalCharges"][2])
    assert np.isinf(request.inputs["MonthlyCharges"][2])  # sent as is: the signature refuses it
    assert "Churn" not in request.inputs and "customerID" not in request.inputs
    outputs = {"churn_probability": np.array([0.9, 0.1, 0.5]), "churn": np.array([True, False, True])}
    text = app.format_response(outputs, items)
    assert text.splitlines()[0].startswith(telco_frame["customerID"][0]) and "churns" in text


def test_cli_refuses_unknown_and_missing_columns_and_non_numbers_one_line_each(app, telco_frame):
    with pytest.raises(ChurnDataError) as error:
        app.request_from_cli(['{"foo": "bar"}'])
    lines = str(error.value).splitlines()
    assert lines[0] == "row 0: unknown column(s) 'foo'"
    assert lines[1].startswith("row 0: missing column(s) 'gender', 'SeniorCitizen'") and len(lines) == 2
    row = telco_frame.iloc[0].to_dict()
    row["tenure"], row["TotalCharges"] = "abc", "12,5"
    with pytest.raises(ChurnDataError) as error:
        app.request_from_cli([json.dumps(row), json.dumps(row)])
    assert str(error.value).splitlines() == [
        "row 0, column 'tenure': 'abc' is not a number",
        "row 1, column 'tenure': 'abc' is not a number",
        "row 0, column 'TotalCharges': '12,5' is not a number",
        "row 1, column 'TotalCharges': '12,5' is not a number",
    ]


BAD_CSV_FILES = {
    "utf16.csv": ("customerID,tenure\nc1,3\n".encode("utf-16"), "utf16.csv: not a UTF-8 CSV file"),
    "empty.csv": (b"", "empty.csv: the file is empty; a churn CSV starts with a header row."),
    "picture.csv": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "picture.csv: not a UTF-8 CSV file"),
    "header.csv": (b"customerID,tenure\n", "header.csv: no rows under the CSV header."),
    "ragged.csv": (b"a,b\n1,2\n3,4,5\n", "ragged.csv: not a CSV table (Error tokenizing data."),
}


@pytest.mark.parametrize("name", BAD_CSV_FILES)
def test_cli_refuses_files_that_are_not_utf8_csv_tables_naming_them(app, tmp_path, name):
    content, expected = BAD_CSV_FILES[name]
    (tmp_path / name).write_bytes(content)
    with pytest.raises(ChurnDataError) as error:
        app.request_from_cli([str(tmp_path / name)])
    assert expected in str(error.value) and len(str(error.value).splitlines()) == 1


@pytest.mark.parametrize(
    "item, expected",
    [
        ('{"tenure": ' * 50_000, "input 1 is not a JSON row: it is nested too deeply"),
        ("[" * 50_000, "input 1 ('[[[["),
        ("no\0such.csv", "input 1 ('no\\x00such.csv') is neither a CSV file nor a JSON object."),
    ],
)
def test_cli_refuses_arguments_no_file_system_or_json_parser_takes_in_one_line(app, item, expected):
    with pytest.raises(ChurnDataError) as error:
        app.request_from_cli([item])
    message = str(error.value)
    assert expected in message and len(message) < 200 and "\n" not in message


def test_cli_requests_follow_the_server_signature_not_the_local_models_folder(app, tmp_path, monkeypatch):
    (tmp_path / "models" / "churn" / "1").mkdir(parents=True)  # not a SavedModel: must not be read
    monkeypatch.chdir(tmp_path)
    inputs = {"plan": "DT_STRING", "monthly_fee": "DT_FLOAT"}
    request = app.request_from_cli(['{"plan": "gold", "monthly_fee": 12.5}'], signature_inputs=inputs)
    assert request.inputs["plan"].tolist() == ["gold"] and request.inputs["monthly_fee"].tolist() == [12.5]
    assert set(app.request_from_cli(['{"plan": "gold", "monthly_fee": ""}'], inputs).inputs) == set(inputs)
    with pytest.raises(ChurnDataError, match="missing column\\(s\\) 'monthly_fee'"):
        app.request_from_cli(['{"plan": "gold"}'], signature_inputs=inputs)


def test_column_names_tensorflow_rejects_become_valid_input_names(app, telco_frame):
    frame = telco_frame.rename(columns={"MonthlyCharges": "Monthly Charges ($)", "Contract": "_contract"})
    config = tiny_config(crosses="none")
    table = parse_table(frame, config, "test")
    names = {column.name: column.input_name for column in table.columns}
    assert names["Monthly Charges ($)"] == "Monthly_Charges____" and names["_contract"] == "x_contract"
    preprocessing = make_splits(table, config).info.preprocessing
    features = request_features(frame.head(2), table.columns)  # found by CSV name
    assert features["Monthly_Charges____"].dtype == np.float32
    encoded = encode(preprocessing, features)
    assert encoded.shape == (2, preprocessing.output_size) and np.isfinite(encoded).all()
    assert {"Monthly_Charges____", "x_contract=[UNK]"} <= set(preprocessing.encoded_names())
    assert set(input_specs(preprocessing)) == set(names.values())
