"""Reading a churn table: column types, label, bad values, and stratified splits.

Every value is read as text first (`dtype=str`), so that each problem can be
handled on purpose rather than by pandas' guesses:

* blank numbers (and `NA`, `null`, `?`...) are missing: the model imputes them;
* non-blank text in a numeric column is an error naming the row and column,
  or missing too with `bad_numbers="impute"`;
* a missing label column, a blank label or a table with one class is an error;
* categories never seen in training go to the out-of-vocabulary bucket of their
  one-hot encoding (see `apps.churn.preprocessing`).
"""

import dataclasses
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from apps.core.errors import InputError

NUMERIC, CATEGORICAL, IGNORE = "numeric", "categorical", "ignore"
COLUMN_KINDS = (NUMERIC, CATEGORICAL, IGNORE)
MISSING_TOKENS = frozenset({"", "na", "n/a", "nan", "null", "none", "?", "-"})
# A column is numeric when at least this share of its non-blank values parse.
NUMERIC_SHARE = 0.9
# TensorFlow accepts these characters in signature input names.
VALID_TF_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$")


class ChurnDataError(InputError):
    """The table, or the rows of a request, cannot be used as they are; the message names
    the row and column of each problem, one line each (the CLI prints it as it is)."""


@dataclasses.dataclass(frozen=True)
class Column:
    """One feature column: its CSV name, kind, and the name the model input carries."""

    name: str
    kind: str
    input_name: str

    def to_dict(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass
class ChurnTable:
    """A parsed table: feature arrays by input name, 0/1 labels, and the schema.

    Numeric features are float32 with NaN for missing values; categorical ones are
    object arrays of stripped strings ("" when blank).
    """

    features: dict
    labels: np.ndarray
    columns: list
    source: str
    negative_label: str = ""

    def __len__(self):
        return len(self.labels)

    def subset(self, indices):
        return ChurnTable(
            {name: values[indices] for name, values in self.features.items()},
            self.labels[indices],
            self.columns,
            self.source,
            self.negative_label,
        )


def read_csv_text(path):
    """The CSV as a frame of strings, nothing converted or dropped; `ChurnDataError` naming
    the file when it is not a UTF-8 CSV table (another encoding, a binary file, no header,
    rows with more fields than the header)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No churn CSV at {path}.")
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ChurnDataError(
            f"{path}: not a UTF-8 CSV file ({error.reason}, byte "
            f"0x{error.object[error.start]:02x}); save the table as UTF-8 CSV."
        ) from None
    except pd.errors.EmptyDataError:
        raise ChurnDataError(f"{path}: the file is empty; a churn CSV starts with a header row.") from None
    except pd.errors.ParserError as error:
        reason = " ".join(str(error).split())
        raise ChurnDataError(f"{path}: not a CSV table ({reason}).") from None


def sanitize_input_name(name):
    """`name` if TensorFlow accepts it as a signature input name, else a cleaned copy."""
    if VALID_TF_NAME.match(name):
        return name
    cleaned = re.sub(r"[^A-Za-z0-9_.\-/]", "_", name.strip())
    return cleaned if cleaned and cleaned[0].isalnum() else f"x{cleaned}"


def is_missing(text):
    return text.strip().lower() in MISSING_TOKENS


def parse_number(text):
    """The float in `text`, NaN when it is a missing token, None when it does not parse."""
    if is_missing(text):
        return np.nan
    try:
        return float(text.strip())
    except ValueError:
        return None


def parse_column_types(text):
    """`"A=numeric,B=categorical,C=ignore"` → `{"A": "numeric", ...}`."""
    overrides = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, kind = item.rpartition("=")
        if not sep or not name.strip():
            raise ValueError(f"column_types item {item!r} is not COLUMN=TYPE.")
        kind = kind.strip().lower()
        if kind not in COLUMN_KINDS:
            raise ValueError(f"column_types: type of {name!r} must be one of {COLUMN_KINDS}, got {kind!r}.")
        overrides[name.strip()] = kind
    return overrides


def infer_kind(values):
    """`numeric` when (nearly) every non-blank value parses as a number, else `categorical`."""
    present = [value for value in values if not is_missing(value)]
    if not present:
        return CATEGORICAL
    parsed = sum(parse_number(value) is not None for value in present)
    return NUMERIC if parsed / len(present) >= NUMERIC_SHARE else CATEGORICAL


def infer_columns(frame, label_column, id_column="", column_types=""):
    """The feature columns of `frame`: every column but the label and id, typed."""
    overrides = parse_column_types(column_types)
    unknown = sorted(set(overrides) - set(frame.columns))
    if unknown:
        raise ChurnDataError(
            f"column_types names column(s) {unknown} that the table lacks; it has {list(frame.columns)}."
        )
    columns, used_names = [], set()
    for name in frame.columns:
        if name in (label_column, id_column):
            continue
        kind = overrides.get(name) or infer_kind(frame[name].tolist())
        if kind == IGNORE:
            continue
        input_name = sanitize_input_name(name)
        if input_name in used_names:
            raise ChurnDataError(f"Columns {name!r} and another both become input {input_name!r}; rename one.")
        used_names.add(input_name)
        columns.append(Column(name, kind, input_name))
    if not columns:
        raise ChurnDataError("The table has no feature columns besides the label and id.")
    return columns


def check_required_columns(frame, label_column, id_column):
    if label_column not in frame.columns:
        raise ChurnDataError(
            f"The label column {label_column!r} is missing; the table has {list(frame.columns)}. "
            "Name the label with --label-column."
        )
    if id_column and id_column not in frame.columns:
        raise ChurnDataError(
            f"The id column {id_column!r} is missing; the table has {list(frame.columns)}. "
            "Name it with --id-column, or pass --id-column '' when there is none."
        )


def csv_line(row):
    """The 1-based line of a 0-based data row in a CSV with one header line."""
    return row + 2


def encode_labels(values, label_column, positive_label):
    """1 for `positive_label`, 0 for any other value; blank labels are errors."""
    values = np.array([value.strip() for value in values], dtype=object)
    blank = np.flatnonzero(values == "")
    if blank.size:
        raise ChurnDataError(
            f"Row {blank[0]} (CSV line {csv_line(blank[0])}), column {label_column!r}: the label is "
            f"blank ({blank.size} row(s) in all). Drop or fill those rows."
        )
    labels = (values == positive_label).astype(np.float32)
    distinct = sorted(set(values))
    if labels.sum() == 0 or labels.sum() == len(labels):
        raise ChurnDataError(
            f"Column {label_column!r} needs both classes with positive_label {positive_label!r}; "
            f"its values are {distinct[:10]}. Set --positive-label."
        )
    negatives = [value for value in distinct if value != positive_label]
    return labels, negatives[0] if len(negatives) == 1 else "not " + positive_label


def parse_numeric_column(values, column, bad_numbers):
    """float32 values with NaN for blanks (and, with `impute`, for unparsable text)."""
    parsed = [parse_number(value) for value in values]
    bad_rows = [row for row, number in enumerate(parsed) if number is None]
    if bad_rows:
        first = bad_rows[0]
        message = (
            f"Row {first} (CSV line {csv_line(first)}), column {column.name!r}: "
            f"{values[first]!r} is not a number ({len(bad_rows)} such row(s) in the column)"
        )
        if bad_numbers == "error":
            raise ChurnDataError(
                message + ". Fix the file, declare the column categorical with "
                "--column-types, or impute such values with --bad-numbers impute."
            )
        warnings.warn(message + "; imputed as missing.", stacklevel=2)
    return np.array([np.nan if number is None else number for number in parsed], dtype=np.float32)


def parse_categorical_column(values):
    return np.array([value.strip() for value in values], dtype=object)


def parse_table(frame, config, source):
    """A `ChurnTable` from a frame of strings, following the config's column choices."""
    check_required_columns(frame, config.label_column, config.id_column)
    columns = infer_columns(frame, config.label_column, config.id_column, config.column_types)
    labels, negative_label = encode_labels(
        frame[config.label_column].tolist(), config.label_column, config.positive_label
    )
    features = {}
    for column in columns:
        values = frame[column.name].tolist()
        features[column.input_name] = (
            parse_numeric_column(values, column, config.bad_numbers)
            if column.kind == NUMERIC
            else parse_categorical_column(values)
        )
    return ChurnTable(features, labels, columns, source, negative_label)


def _test_split(labels, test_fraction, seed):
    """(non-test rows, test rows): the stratified test split every churn model is scored on."""
    from sklearn.model_selection import train_test_split

    return train_test_split(np.arange(len(labels)), test_size=test_fraction, stratify=labels, random_state=seed)


def stratified_split_indices(labels, test_fraction, validation_fraction, seed):
    """Row indices of stratified train / validation / test splits."""
    from sklearn.model_selection import train_test_split

    rest, test = _test_split(labels, test_fraction, seed)
    train, validation = train_test_split(rest, test_size=validation_fraction, stratify=labels[rest], random_state=seed)
    return np.sort(train), np.sort(validation), np.sort(test)


def cross_fit_indices(labels, test_fraction, folds, seed):
    """Row indices of the same stratified test split as `stratified_split_indices`, and
    `folds` stratified (train, validation) pairs over the other rows, each of which
    validates exactly one pair."""
    from sklearn.model_selection import StratifiedKFold

    rest, test = _test_split(labels, test_fraction, seed)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    pairs = [
        (np.sort(rest[train]), np.sort(rest[validation])) for train, validation in splitter.split(rest, labels[rest])
    ]
    return pairs, np.sort(test)
