"""The churn app: predict which customers will leave from a churn table."""

import json
from pathlib import Path

import numpy as np

from apps.churn import data as churn_data
from apps.churn.config import ChurnConfig
from apps.churn.evaluation import evaluate_churn
from apps.churn.model import build_model
from apps.churn.signatures import make_signatures
from apps.churn.table import (ChurnDataError, Column, CATEGORICAL, NUMERIC, parse_number,
                              read_csv_text, sanitize_input_name)
from apps.churn.training import OBJECTIVE, fit_and_calibrate
from apps.core.app import App, SampleRequest
from apps.core.data import DataSourceError
from apps.core.hypermodel import ConfigHyperModel
from apps.core.registry import register_app

SAMPLE_ROWS = 3


def search_space(hp, config):
    """The churn hyperparameters, as values of `ChurnConfig`. A trial trains one network
    (on the first fold when the base config is a cross-fitted ensemble)."""
    return config.replace(
        ensemble=1,
        depth=hp.Int("depth", 1, 4),
        width=hp.Choice("width", [32, 64, 128, 256]),
        dropout=hp.Float("dropout", 0.0, 0.5, step=0.1),
        learning_rate=hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"),
        class_weighting=hp.Choice("class_weighting", ["none", "sqrt", "balanced"]),
    )


@register_app
class ChurnApp(App):
    name = "churn"
    title = "Customer churn (residual MLP on a churn CSV)"
    config_class = ChurnConfig
    objective = OBJECTIVE
    objective_direction = "max"

    def load_tfds(self, name, config):
        raise DataSourceError(
            "The churn app has no TFDS source: use --data files:PATH.csv (any churn CSV) or --data builtin.")

    def load_files(self, path, config):
        return churn_data.make_splits(churn_data.load_csv_table(path, config), config)

    def load_builtin(self, config):
        return churn_data.make_splits(churn_data.load_builtin_table(config), config)

    def build_model(self, config, data):
        return build_model(config, data.info)

    def hypermodel(self, config, data):
        return ConfigHyperModel(self, config, data, search_space)

    def train(self, model, data, config, run):
        """Fits with early stopping on validation ROC-AUC (each member of a cross-fitted
        ensemble on its own fold), then sets the threshold on held-out predictions."""
        return fit_and_calibrate(model, data, config, run)

    def evaluate(self, model, data, config, run):
        return evaluate_churn(model, data, config, run)

    def serving_signatures(self, model, config):
        return make_signatures(model)

    # ----- requests -----------------------------------------------------------
    def sample_requests(self, config):
        table = churn_data.load_table(config)
        rows = np.arange(min(SAMPLE_ROWS, len(table)))
        inputs = {name: _request_array(values[rows]) for name, values in table.features.items()}
        return [SampleRequest("serving_default", inputs)]

    def request_from_cli(self, items):
        """Rows from CSV files (with a header) and/or JSON objects `{"column": value, ...}`."""
        frame = _rows_from_items(items)
        columns = _expected_columns(self)
        return SampleRequest("serving_default", request_features(frame, columns))

    def format_response(self, outputs, items):
        probabilities = np.asarray(outputs["churn_probability"]).ravel()
        decisions = np.asarray(outputs["churn"]).ravel()
        names = _row_names(_rows_from_items(items))
        return "\n".join(
            f"{name}: churn probability {probability:.3f} → {'churns' if decision else 'stays'}"
            for name, probability, decision in zip(names, probabilities, decisions)
        )


def _request_array(values):
    values = np.asarray(values)
    return values.astype(np.float32) if values.dtype.kind == "f" else values.astype(object)


def _rows_from_items(items):
    """A frame of strings from CSV paths and JSON objects (one row each)."""
    import pandas as pd

    frames = []
    for item in items:
        if item.lstrip().startswith("{"):
            row = json.loads(item)
            frames.append(pd.DataFrame([{key: "" if value is None else str(value) for key, value in row.items()}]))
        elif Path(item).is_file():
            frames.append(read_csv_text(item))
        else:
            raise FileNotFoundError(f"{item!r} is neither a CSV file nor a JSON object.")
    return pd.concat(frames, ignore_index=True).fillna("") if frames else pd.DataFrame()


def _row_names(frame):
    identifiers = frame["customerID"].tolist() if "customerID" in frame.columns else [""] * len(frame)
    return [identifier.strip() or f"row {index}" for index, identifier in enumerate(identifiers)]


def _expected_columns(app):
    """The serving inputs of the newest export (default folder), else of the default config's table."""
    try:
        from apps.core.workflow import latest_export
        import tensorflow as tf

        signature = tf.saved_model.load(str(latest_export(app))).signatures["serving_default"]
        specs = signature.structured_input_signature[1]
        return [Column(name, CATEGORICAL if spec.dtype == tf.string else NUMERIC, name)
                for name, spec in specs.items()]
    except FileNotFoundError:
        return churn_data.load_table(app.default_config()).columns


def request_features(frame, columns):
    """Arrays for the signature from a frame of strings; a column is found by its CSV or
    input name, an absent one is sent blank (NaN / "")."""
    by_input_name = {sanitize_input_name(name): name for name in frame.columns}
    features = {}
    for column in columns:
        source = column.name if column.name in frame.columns else by_input_name.get(column.input_name)
        values = frame[source].tolist() if source is not None else [""] * len(frame)
        if column.kind == NUMERIC:
            features[column.input_name] = _numbers(values, column.name)
        else:
            features[column.input_name] = np.array([value.strip() for value in values], dtype=object)
    return features


def _numbers(values, column_name):
    numbers = []
    for row, value in enumerate(values):
        number = parse_number(value)
        if number is None:
            raise ChurnDataError(f"Request row {row}, column {column_name!r}: {value!r} is not a number.")
        numbers.append(number)
    return np.array(numbers, dtype=np.float32)
