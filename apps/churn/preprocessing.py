"""Preprocessing inside the model, fitted on the training split only.

Each raw column becomes encoded features with Keras preprocessing layers:

* numbers: missing values (NaN) → training median (+ a missing flag when the
  training split had blanks), `Normalization`, and quantile bins, encoded piecewise
  linearly (`layers.PiecewiseLinearEncoding`) or one-hot (`Discretization`);
* categories: `StringLookup` one-hot with one out-of-vocabulary bucket, so a
  category never seen in training is mapped there rather than failing;
* crosses: `HashedCrossing` one-hot of pairs of categorical columns;
* derived numbers (`apps.churn.derived`, e.g. log1p(TotalCharges)): computed from the
  raw inputs by layers of the model, then encoded like the CSV's numbers.

Everything is a layer of the model, so `model.keras` and the SavedModel take raw values.
"""

import keras
import numpy as np

from apps.churn.derived import derived_features, derived_training_values
from apps.churn.table import CATEGORICAL, NUMERIC
from layers import PiecewiseLinearEncoding, quantile_bin_edges

# Pairs of Telco columns whose interaction the churn literature (and the builtin
# generator) points at: the contract with the internet service and with payment.
TELCO_CROSSES = (("Contract", "InternetService"), ("Contract", "PaymentMethod"),
                 ("InternetService", "TechSupport"))
CROSS_BINS_PER_COMBINATION = 4


@keras.saving.register_keras_serializable(package="kapps_churn")
class ImputeMissing(keras.layers.Layer):
    """Replaces NaN with `fill_value` (the training median)."""

    def __init__(self, fill_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.fill_value = float(fill_value)

    def call(self, inputs):
        inputs = keras.ops.cast(inputs, self.compute_dtype)
        return keras.ops.where(keras.ops.isnan(inputs), self.fill_value, inputs)

    def get_config(self):
        return {**super().get_config(), "fill_value": self.fill_value}


@keras.saving.register_keras_serializable(package="kapps_churn")
class MissingIndicator(keras.layers.Layer):
    """1.0 where the value is NaN, else 0.0."""

    def call(self, inputs):
        return keras.ops.cast(keras.ops.isnan(keras.ops.cast(inputs, "float32")), self.compute_dtype)


@keras.saving.register_keras_serializable(package="kapps_churn")
class DecisionThreshold(keras.layers.Layer):
    """Passes churn probabilities through and keeps the decision threshold as a weight.

    The threshold is chosen on validation data after training
    (`apps.churn.threshold`), saved with the model, and used by the serving signature.
    """

    def __init__(self, threshold=0.5, **kwargs):
        super().__init__(**kwargs)
        self.initial_threshold = float(threshold)

    def build(self, input_shape):
        self.threshold = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.initial_threshold),
            trainable=False, name="threshold", dtype="float32",
        )

    def call(self, probabilities):
        return probabilities

    def decide(self, probabilities):
        return keras.ops.greater_equal(probabilities, self.threshold)

    def get_config(self):
        return {**super().get_config(), "threshold": self.initial_threshold}


def model_inputs(columns):
    """One `keras.Input` of shape (1,) per column: float32 numbers, strings for categories."""
    return {
        column.input_name: keras.Input(
            shape=(1,), dtype="float32" if column.kind == NUMERIC else "string", name=column.input_name
        )
        for column in columns
    }


def _as_column(values):
    return np.asarray(values).reshape(-1, 1)


def encode_numeric(raw, train_values, name, config):
    """Imputed, normalised value, optional missing flag, optional quantile bins."""
    present = train_values[~np.isnan(train_values)]
    median = float(np.median(present)) if present.size else 0.0
    filled = np.where(np.isnan(train_values), median, train_values).astype(np.float32)
    value = ImputeMissing(median, name=f"{name}_impute")(raw)
    normalizer = keras.layers.Normalization(name=f"{name}_normalize")
    normalizer.adapt(_as_column(filled))
    encoded = [normalizer(value)]
    if np.isnan(train_values).any():
        encoded.append(MissingIndicator(name=f"{name}_missing")(raw))
    bins = config.numeric_bins
    if bins > 1 and np.unique(filled).size > bins:
        encoded.append(encode_bins(value, filled, name, bins, config.numeric_encoding))
    return encoded


def encode_bins(value, filled, name, bins, encoding):
    """`bins` quantile bins of the training values, piecewise linear or one-hot."""
    if encoding == "one_hot":
        discretizer = keras.layers.Discretization(num_bins=bins, output_mode="one_hot", name=f"{name}_bins")
        discretizer.adapt(_as_column(filled))
        return discretizer(value)
    return PiecewiseLinearEncoding(quantile_bin_edges(filled, bins), name=f"{name}_bins")(value)


def encode_categorical(raw, train_values, name):
    """One-hot over the training vocabulary plus one out-of-vocabulary bucket."""
    vocabulary = sorted(set(train_values.tolist()))
    lookup = keras.layers.StringLookup(vocabulary=vocabulary, num_oov_indices=1,
                                       output_mode="one_hot", name=f"{name}_lookup")
    return [lookup(raw)]


def resolve_crosses(text, columns):
    """The (input name, input name) pairs that `crosses` asks for."""
    categorical = {column.name: column.input_name for column in columns if column.kind == CATEGORICAL}
    text = text.strip()
    if text.lower() in ("", "none"):
        return []
    if text.lower() == "auto":
        pairs = [pair for pair in TELCO_CROSSES if all(name in categorical for name in pair)]
    else:
        pairs = [tuple(part.strip() for part in item.split("*")) for item in text.split(",") if item.strip()]
        for pair in pairs:
            if len(pair) != 2 or not all(name in categorical for name in pair):
                raise ValueError(f"crosses: {'*'.join(pair)!r} must be two categorical columns "
                                 f"joined by '*'; categorical columns: {sorted(categorical)}.")
    return [(categorical[first], categorical[second]) for first, second in pairs]


def encode_cross(inputs, pair, train_features):
    first, second = pair
    combinations = len(set(train_features[first].tolist())) * len(set(train_features[second].tolist()))
    crossing = keras.layers.HashedCrossing(num_bins=CROSS_BINS_PER_COMBINATION * combinations,
                                           output_mode="one_hot", name=f"cross_{first}_{second}")
    return crossing((inputs[first], inputs[second]))


def encoded_features(inputs, columns, train_features, config):
    """The concatenated encoding of every column (and cross), adapted on `train_features`."""
    parts = []
    for column in columns:
        raw, values = inputs[column.input_name], train_features[column.input_name]
        name = f"{column.input_name}".replace("/", "_")
        if column.kind == NUMERIC:
            parts += encode_numeric(raw, values, name, config)
        else:
            parts += encode_categorical(raw, values, name)
    train_derived = derived_training_values(columns, train_features, config.derived)
    for name, value in derived_features(inputs, columns, config.derived).items():
        parts += encode_numeric(value, train_derived[name], name, config)
    for pair in resolve_crosses(config.crosses, columns):
        parts.append(encode_cross(inputs, pair, train_features))
    return keras.layers.Concatenate(name="encoded_features")(parts) if len(parts) > 1 else parts[0]
