"""Churn preprocessing: raw CSV columns → one encoded float vector per row.

Fitted with NumPy on the training rows only, it is a plain description (vocabularies,
medians, means, bin edges...) whose `get_config()` is JSON. `encode` is TensorFlow and
runs in two places: the `tf.data` pipelines (so the network, which only sees encoded
floats, trains on every Keras backend: Keras' advice for string features) and the
serving signature (so the SavedModel still takes one raw input per CSV column). The
model carries it (`apps.churn.model.ChurnModel`), so a `.keras` file saved on JAX or
PyTorch re-loads on TensorFlow for export with exactly the preprocessing it trained on.

* numbers: NaN (missing) → the training median, plus a missing flag when the training
  rows had blanks; standardised with the training mean and standard deviation (as
  `keras.layers.Normalization`); plus `numeric_bins` quantile bins, encoded piecewise
  linearly (the encoding of `layers.PiecewiseLinearEncoding`) or one-hot;
* categories: one-hot over the training vocabulary after one out-of-vocabulary bucket
  (as `keras.layers.StringLookup(num_oov_indices=1, output_mode="one_hot")`), so a
  category never seen in training is served rather than refused;
* crosses: hashed one-hot of pairs of categorical columns (as `keras.layers.HashedCrossing`);
* derived numbers (`apps.churn.derived`, e.g. log1p(TotalCharges)): computed from the
  raw columns, then encoded like the CSV's numbers.

Only stateless TensorFlow ops are used (no lookup-table resources), so the exported
graph needs nothing but the constants of this description.
"""

import dataclasses

import numpy as np

from apps.churn.derived import derived_features
from apps.churn.table import CATEGORICAL, NUMERIC, Column
from layers import quantile_bin_edges

# Pairs of Telco columns whose interaction the churn literature (and the builtin
# generator) points at: the contract with the internet service and with payment.
TELCO_CROSSES = (("Contract", "InternetService"), ("Contract", "PaymentMethod"), ("InternetService", "TechSupport"))
CROSS_BINS_PER_COMBINATION = 4
NORMALIZATION_EPSILON = 1e-7  # keras.layers.Normalization's floor on the standard deviation
OOV_TOKEN = "[UNK]"  # the name StringLookup gives its out-of-vocabulary bucket


@dataclasses.dataclass
class NumberEncoding:
    """How one number (a CSV column, or a derived feature when `derived`) is encoded."""

    name: str
    median: float
    mean: float
    std: float
    missing_flag: bool
    bin_edges: list
    bin_encoding: str = "piecewise_linear"
    derived: bool = False

    @property
    def size(self):
        return 1 + int(self.missing_flag) + max(len(self.bin_edges) - 1, 0)

    def names(self):
        return (
            [self.name]
            + [f"{self.name}_missing"] * self.missing_flag
            + [f"{self.name}_bin_{index}" for index in range(len(self.bin_edges) - 1)]
        )

    def encode(self, features, derived):
        import tensorflow as tf

        values = tf.cast(derived[self.name] if self.derived else features[self.name], tf.float32)[:, None]
        missing = tf.math.is_nan(values)
        filled = tf.where(missing, tf.constant(self.median, tf.float32), values)
        parts = [(filled - self.mean) / self.std]
        if self.missing_flag:
            parts.append(tf.cast(missing, tf.float32))
        if self.bin_edges:
            encode_bins = _one_hot_bins if self.bin_encoding == "one_hot" else _piecewise_linear
            parts.append(encode_bins(filled, np.asarray(self.bin_edges, np.float64)))
        return tf.concat(parts, axis=1)


@dataclasses.dataclass
class CategoryEncoding:
    """One-hot of a categorical column: index 0 is the out-of-vocabulary bucket."""

    name: str
    vocabulary: list

    @property
    def size(self):
        return 1 + len(self.vocabulary)

    def names(self):
        return [f"{self.name}={value}" for value in (OOV_TOKEN, *self.vocabulary)]

    def encode(self, features, derived):
        import tensorflow as tf

        hits = tf.equal(features[self.name][:, None], tf.constant(self.vocabulary, tf.string)[None, :])
        unknown = tf.logical_not(tf.reduce_any(hits, axis=1, keepdims=True))
        return tf.cast(tf.concat([unknown, hits], axis=1), tf.float32)


@dataclasses.dataclass
class CrossEncoding:
    """Hashed one-hot of the pair of categorical inputs (`first`, `second`): the buckets
    of `keras.layers.HashedCrossing` (the same hash of the pair)."""

    first: str
    second: str
    bins: int

    @property
    def size(self):
        return self.bins

    def names(self):
        return [f"{self.first}*{self.second}#{index}" for index in range(self.bins)]

    def encode(self, features, derived):
        import tensorflow as tf

        pair = [features[self.first][:, None], features[self.second][:, None]]
        buckets = tf.sparse.to_dense(tf.sparse.cross_hashed(pair, num_buckets=self.bins))[:, 0]
        return tf.one_hot(buckets, self.bins, dtype=tf.float32)


def fit_number(values, name, config, derived=False):
    """The encoding of one number, fitted on its training values (NaN: missing). In float32,
    as `keras.layers.Normalization.adapt` computes the mean and variance."""
    values = np.asarray(values, dtype=np.float32)
    present = values[~np.isnan(values)]
    median = float(np.median(present)) if present.size else 0.0
    filled = np.where(np.isnan(values), median, values).astype(np.float32)
    std = max(float(np.sqrt(np.var(filled))), NORMALIZATION_EPSILON)
    bins = config.numeric_bins
    edges = quantile_bin_edges(filled, bins) if bins > 1 and np.unique(filled).size > bins else []
    return NumberEncoding(
        name, median, float(np.mean(filled)), std, bool(np.isnan(values).any()), edges, config.numeric_encoding, derived
    )


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
                raise ValueError(
                    f"crosses: {'*'.join(pair)!r} must be two categorical columns "
                    f"joined by '*'; categorical columns: {sorted(categorical)}."
                )
    return [(categorical[first], categorical[second]) for first, second in pairs]


def fit_cross(pair, train_features):
    first, second = pair
    combinations = len(set(train_features[first].tolist())) * len(set(train_features[second].tolist()))
    return CrossEncoding(first, second, CROSS_BINS_PER_COMBINATION * combinations)


def derived_training_values(columns, train_features, derived):
    """The derived features of the training rows, as NumPy arrays (n,), NaN where missing."""
    import tensorflow as tf

    tensors = {name: tf.constant(values) for name, values in train_features.items()}
    return {name: value.numpy() for name, value in derived_features(tensors, columns, derived).items()}


@dataclasses.dataclass
class ChurnPreprocessing:
    """Raw columns → encoded features, fitted on training rows (`fit`); see the module doc.

    Attributes:
        columns: the table's feature columns (`apps.churn.table.Column`), the raw inputs.
        numbers: encodings of the numeric columns, then of the derived features.
        categories: encodings of the categorical columns.
        crosses: hashed crosses of categorical pairs.
        derived: `auto` or `none` (`apps.churn.derived`).
    """

    columns: list
    numbers: list
    categories: list
    crosses: list
    derived: str = "none"

    @classmethod
    def fit(cls, columns, train_features, config):
        numbers = [
            fit_number(train_features[column.input_name], column.input_name, config)
            for column in columns
            if column.kind == NUMERIC
        ]
        derived = derived_training_values(columns, train_features, config.derived)
        numbers += [fit_number(values, name, config, derived=True) for name, values in derived.items()]
        categories = [
            CategoryEncoding(column.input_name, sorted(set(train_features[column.input_name].tolist())))
            for column in columns
            if column.kind == CATEGORICAL
        ]
        crosses = [fit_cross(pair, train_features) for pair in resolve_crosses(config.crosses, columns)]
        return cls(list(columns), numbers, categories, crosses, config.derived)

    @property
    def output_size(self):
        return sum(part.size for part in (*self.numbers, *self.categories, *self.crosses))

    def encodings(self):
        """Every encoding in the order of the encoded vector: the columns in table order,
        then the derived numbers, then the crosses."""
        by_name = {
            encoding.name: encoding
            for encoding in (*self.numbers, *self.categories)
            if not getattr(encoding, "derived", False)
        }
        derived = [number for number in self.numbers if number.derived]
        return [by_name[column.input_name] for column in self.columns] + derived + list(self.crosses)

    def encoded_names(self):
        """The name of each encoded feature, in order (to inspect an encoding or a model)."""
        return [name for encoding in self.encodings() for name in encoding.names()]

    def encode(self, features):
        """`{input name: (batch,) tensor}` of raw values → (batch, output_size) float32 (TensorFlow)."""
        import tensorflow as tf

        features = {name: tf.reshape(value, [-1]) for name, value in features.items()}
        derived = derived_features(features, self.columns, self.derived)
        return tf.concat([encoding.encode(features, derived) for encoding in self.encodings()], axis=1)

    def get_config(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        return cls(
            columns=[Column(**column) for column in config["columns"]],
            numbers=[NumberEncoding(**number) for number in config["numbers"]],
            categories=[CategoryEncoding(**category) for category in config["categories"]],
            crosses=[CrossEncoding(**cross) for cross in config["crosses"]],
            derived=config["derived"],
        )


def _piecewise_linear(values, edges):
    """How far each value has gone through each bin (`layers.PiecewiseLinearEncoding`):
    clipped to [0, 1], except the first bin below and the last above."""
    import tensorflow as tf

    lower, upper = np.zeros(len(edges) - 1), np.ones(len(edges) - 1)
    lower[0], upper[-1] = -np.inf, np.inf
    progress = (values - edges[:-1].astype(np.float32)) / np.diff(edges).astype(np.float32)
    return tf.minimum(tf.maximum(progress, lower.astype(np.float32)), upper.astype(np.float32))


def _one_hot_bins(values, edges):
    """One-hot of the bin holding each value (values outside the edges: the end bins)."""
    import tensorflow as tf

    index = tf.reduce_sum(tf.cast(values >= edges[1:-1].astype(np.float32), tf.int32), axis=1)
    return tf.one_hot(index, len(edges) - 1, dtype=tf.float32)
