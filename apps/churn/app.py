"""The churn app: predict which customers will leave from a churn table."""

import json

import keras
import numpy as np

from apps.churn import data as churn_data
from apps.churn.builtin import TELCO_COLUMNS, TELCO_NUMERIC_COLUMNS
from apps.churn.config import OBJECTIVE, ChurnConfig
from apps.churn.evaluation import evaluate_churn
from apps.churn.model import build_model, threshold_variable
from apps.churn.signatures import make_signatures
from apps.churn.table import (
    CATEGORICAL,
    NUMERIC,
    ChurnDataError,
    Column,
    parse_number,
    read_csv_text,
    sanitize_input_name,
)
from apps.churn.training import fit_and_calibrate
from apps.core.app import App, SampleRequest
from apps.core.cli_inputs import is_file, shown, utf8_text
from apps.core.data import DataSourceError

SAMPLE_ROWS = 3


def search_space(hp, config):
    """The churn hyperparameters, as values of `ChurnConfig`. A trial trains what
    `kapps churn train` trains (by default the cross-fitted ensemble, through
    `ChurnApp.train`); `--max-epochs` bounds each member's epochs."""
    return config.replace(
        depth=hp.Int("depth", 1, 4),
        width=hp.Choice("width", [32, 64, 128, 256]),
        dropout=hp.Float("dropout", 0.0, 0.5, step=0.1),
        learning_rate=hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"),
        class_weighting=hp.Choice("class_weighting", ["none", "sqrt", "balanced"]),
    )


class ChurnApp(App):
    name = "churn"
    title = "Customer churn (residual MLP on a churn CSV)"
    config_class = ChurnConfig
    objective = OBJECTIVE
    gate_metric = "roc_auc"
    known_limits = (
        "Rows must carry the columns of the training table (the signature refuses missing, unknown and "
        "non-finite values); numbers far outside the training range are extrapolated.",
        "The churn/stays threshold was chosen on out-of-fold predictions of the training data; a different "
        "churn rate where the model is used shifts the best threshold.",
    )
    objective_direction = "max"

    def tiny_config(self):
        """400 generated rows, a cross-fitted ensemble of two narrow networks, one epoch."""
        return ChurnConfig(
            data="builtin",
            builtin_rows=400,
            epochs=1,
            batch_size=80,
            width=8,
            numeric_bins=4,
            patience=2,
            ensemble=2,
            seed=3,
        )

    def load_tfds(self, name, config):
        raise DataSourceError(
            "The churn app has no TFDS source: use --data files:PATH.csv (any churn CSV) or --data builtin."
        )

    def load_files(self, path, config):
        return churn_data.make_splits(churn_data.load_csv_table(path, config), config)

    def load_builtin(self, config):
        return churn_data.make_splits(churn_data.load_builtin_table(config), config)

    def build_model(self, config, data):
        return build_model(config, data)

    search_space = staticmethod(search_space)

    def train(self, model, data, config, run=None, callbacks=(), initial_epoch=0):
        """Fits with early stopping on validation ROC-AUC (each member of a cross-fitted
        ensemble on its own fold, with its own member run), then sets the threshold on
        held-out predictions. Returns the `History` that `callbacks` saw: a single network's
        epochs, or a cross-fitted ensemble's one epoch whose logs are its out-of-fold
        `val_auc` and threshold (so a tuner's checkpoint holds the whole model)."""
        return fit_and_calibrate(
            model,
            data,
            config,
            run,
            lambda fit_run: self.training_callbacks(data, config, fit_run),
            callbacks,
            initial_epoch,
        )

    def decode_predictions(self, predictions, model):
        """Probabilities (batch, 1) → `churn_probability` (batch,) and `churn` (batch,),
        true at or above the threshold stored in the model's `DecisionThreshold` layer."""
        probability = keras.ops.reshape(predictions, (-1,))
        return {
            "churn_probability": probability,
            "churn": keras.ops.greater_equal(probability, threshold_variable(model)),
        }

    def evaluate(self, model, data, config, run):
        return evaluate_churn(model, data, config, run, self.decode_predictions)

    def serving_signatures(self, model, config):
        return make_signatures(model, self.decode_predictions)

    def app_descriptor(self, model, config, training):
        """The page's form: each column with its kind, the categories the model knows (as choices)
        or the training median (as the default number), and the decision threshold."""
        preprocessing = model.preprocessing
        medians = {number.name: float(f"{number.median:.6g}") for number in preprocessing.numbers if not number.derived}
        choices = {category.name: list(category.vocabulary) for category in preprocessing.categories}
        columns = [
            {"name": column.input_name, "kind": "number", "default": medians[column.input_name]}
            if column.kind == NUMERIC
            else {"name": column.input_name, "kind": "category", "choices": choices[column.input_name]}
            for column in preprocessing.columns
        ]
        threshold = float(keras.ops.convert_to_numpy(threshold_variable(model)))
        return {**super().app_descriptor(model, config, training), "columns": columns, "threshold": threshold}

    # ----- requests -----------------------------------------------------------
    def sample_requests(self, config):
        table = churn_data.load_table(config)
        rows = np.arange(min(SAMPLE_ROWS, len(table)))
        inputs = {name: _request_array(values[rows]) for name, values in table.features.items()}
        return [SampleRequest("serving_default", inputs)]

    def request_from_cli(self, items, signature_inputs=None):
        """Rows from CSV files (with a header) and/or JSON objects `{"column": value, ...}`.

        `signature_inputs` (`{input name: dtype}` of the model that will answer, e.g. from a
        server's metadata) says which columns to send and their types; without it, the
        default config's table (the Telco schema). A row with an unknown or a missing
        column, or a number that does not parse, is refused: `ChurnDataError`, one line
        per problem (the model checks the values themselves, e.g. infinite numbers)."""
        columns = columns_of_signature(signature_inputs) if signature_inputs else telco_columns(self.default_config())
        frames = _request_frames(items)
        errors = column_errors(items, frames, columns, self.default_config())
        if errors:
            raise ChurnDataError("\n".join(errors))
        return SampleRequest("serving_default", request_features(_concatenated(frames), columns))

    def format_response(self, outputs, items):
        probabilities = np.asarray(outputs["churn_probability"]).ravel()
        decisions = np.asarray(outputs["churn"]).ravel()
        names = _row_names(_concatenated(_request_frames(items)))
        return "\n".join(
            f"{name}: churn probability {probability:.3f} → {'churns' if decision else 'stays'}"
            for name, probability, decision in zip(names, probabilities, decisions)
        )


def _request_array(values):
    values = np.asarray(values)
    return values.astype(np.float32) if values.dtype.kind == "f" else values.astype(object)


def telco_columns(config):
    """The feature columns of the default config's table: the Telco schema (the default CSV
    and the builtin table share it), without reading any file."""
    return [
        Column(name, NUMERIC if name in TELCO_NUMERIC_COLUMNS else CATEGORICAL, name)
        for name in TELCO_COLUMNS
        if name not in (config.label_column, config.id_column)
    ]


def _is_string(dtype):
    return str(getattr(dtype, "name", dtype)).upper() in ("STRING", "DT_STRING")


def columns_of_signature(signature_inputs):
    """Columns from a signature's `{input name: dtype}` (a `tf.DType`, `"string"` or TF
    Serving's `"DT_STRING"`/`"DT_FLOAT"`)."""
    return [
        Column(name, CATEGORICAL if _is_string(dtype) else NUMERIC, name) for name, dtype in signature_inputs.items()
    ]


def _request_frames(items):
    """One frame of strings per CLI item: a CSV file's rows, or a JSON object's one row."""
    import pandas as pd

    frames = []
    for number, item in enumerate(items, start=1):
        if item.lstrip().startswith("{"):
            row = _json_row(item, number)
            frames.append(pd.DataFrame([{key: "" if value is None else str(value) for key, value in row.items()}]))
        elif is_file(item):
            frames.append(read_csv_text(item))
            if frames[-1].empty:
                raise ChurnDataError(f"{item}: no rows under the CSV header.")
        else:
            raise ChurnDataError(f"input {number} ({shown(item)}) is neither a CSV file nor a JSON object.")
    return frames


def _json_row(item, number):
    """The JSON object of one CLI argument; `ChurnDataError` when it is not one (bad syntax, or
    nested deeper than Python's parser goes)."""
    try:
        return json.loads(utf8_text(item, number))
    except json.JSONDecodeError as error:
        raise ChurnDataError(f"input {number} is not a valid JSON object: {error}.") from None
    except RecursionError:
        raise ChurnDataError(
            f"input {number} is not a JSON row: it is nested too deeply (a row is one object of column: value)."
        ) from None


def _concatenated(frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True).fillna("") if frames else pd.DataFrame()


def _rows_label(first, count, item):
    rows = f"row {first}" if count == 1 else f"rows {first}-{first + count - 1}"
    return rows if item.lstrip().startswith("{") else f"{rows} ({item})"


def column_errors(items, frames, columns, config):
    """One line per CLI item with unknown or missing columns (a column is found by its CSV
    or input name; the label and id columns may be present and are not sent)."""
    accepted = {name for column in columns for name in (column.name, column.input_name)}
    accepted |= {config.label_column, config.id_column} - {""}
    errors, first = [], 0
    for item, frame in zip(items, frames):
        label = _rows_label(first, len(frame), item)
        present = set(frame.columns) | {sanitize_input_name(name) for name in frame.columns}
        unknown = [name for name in frame.columns if name not in accepted]
        missing = [column.name for column in columns if not {column.name, column.input_name} & present]
        if unknown:
            errors.append(f"{label}: unknown column(s) {', '.join(map(repr, unknown))}")
        if missing:
            errors.append(f"{label}: missing column(s) {', '.join(map(repr, missing))}")
        first += len(frame)
    return errors


def _row_names(frame):
    identifiers = frame["customerID"].tolist() if "customerID" in frame.columns else [""] * len(frame)
    return [identifier.strip() or f"row {index}" for index, identifier in enumerate(identifiers)]


def request_features(frame, columns):
    """Arrays for the signature from a frame of strings, a column found by its CSV or
    input name; `ChurnDataError` naming every value of a numeric column that does not
    parse (blank values are sent as missing: NaN / "")."""
    by_input_name = {sanitize_input_name(name): name for name in frame.columns}
    features, errors = {}, []
    for column in columns:
        source = column.name if column.name in frame.columns else by_input_name.get(column.input_name)
        values = frame[source].tolist() if source is not None else [""] * len(frame)
        if column.kind == NUMERIC:
            numbers = [parse_number(value) for value in values]
            errors += [
                f"row {row}, column {column.name!r}: {value!r} is not a number"
                for row, (value, number) in enumerate(zip(values, numbers))
                if number is None
            ]
            features[column.input_name] = np.array([np.nan if n is None else n for n in numbers], dtype=np.float32)
        else:
            features[column.input_name] = np.array([value.strip() for value in values], dtype=object)
    if errors:
        raise ChurnDataError("\n".join(errors))
    return features
