"""Churn data: the table (CSV or generated), stratified splits, encoded tf.data pipelines."""

import dataclasses
from pathlib import Path

import numpy as np
import tensorflow as tf

from apps.churn.builtin import generate_telco_table
from apps.churn.config import TELCO_CSV, TELCO_CSV_URL
from apps.churn.preprocessing import ChurnPreprocessing
from apps.churn.table import cross_fit_indices, parse_table, read_csv_text, stratified_split_indices
from apps.core.data import DataSplits, batched_pipeline, prefetched

# Rows encoded at once by the pipelines (the preprocessing is vectorised over a batch).
ENCODE_BATCH = 4096
PREDICT_BATCH = 2048


def load_csv_table(path, config):
    return parse_table(read_csv_text(path), config, f"files:{path}")


def load_builtin_table(config):
    frame = generate_telco_table(config.builtin_rows, seed=config.seed)
    return parse_table(frame, config, f"builtin (generated Telco schema, {config.builtin_rows} rows)")


def load_table(config):
    """The parsed table that `config.data` names (`files:PATH` or `builtin`)."""
    from apps.core.data import DataSource

    source = DataSource.parse(config.data)
    if source.kind == "files":
        if source.argument == TELCO_CSV and not Path(TELCO_CSV).is_file():
            raise FileNotFoundError(
                f"No churn CSV at {TELCO_CSV} (the default --data, in a datasets folder beside the repository). "
                f"Download the IBM Telco Customer Churn CSV from {TELCO_CSV_URL} and pass --data files:PATH, "
                "or train on a generated table with the same columns with --data builtin."
            )
        return load_csv_table(source.argument, config)
    if source.kind == "builtin":
        return load_builtin_table(config)
    raise ValueError("The churn app reads files:PATH (a CSV) or builtin, not TFDS.")


def split_table(table, config):
    """Stratified (train, validation, test) tables; `max_examples` caps training rows."""
    train, validation, test = stratified_split_indices(
        table.labels, config.test_fraction, config.validation_fraction, config.seed
    )
    return table.subset(_capped(train, config)), table.subset(validation), table.subset(test)


def cross_fit_tables(table, config):
    """`config.ensemble` stratified (train, validation) folds of the non-test rows (each
    row validates one fold), the table of every fold's training rows, and the test table;
    `max_examples` caps each fold's training rows."""
    folds, test = cross_fit_indices(table.labels, config.test_fraction, config.ensemble, config.seed)
    trains = [_capped(train, config) for train, _ in folds]
    return (
        [(table.subset(train), table.subset(validation)) for train, (_, validation) in zip(trains, folds)],
        table.subset(np.unique(np.concatenate(trains))),
        table.subset(test),
    )


def _capped(rows, config):
    return rows[: config.max_examples] if config.max_examples else rows


def encoded_dataset(table, preprocessing):
    """Unbatched dataset of the table's encoded rows, (features,) floats each."""
    raw = tf.data.Dataset.from_tensor_slices(table.features).batch(ENCODE_BATCH)
    encoded = raw.map(preprocessing.encode, num_parallel_calls=tf.data.AUTOTUNE).unbatch()
    return encoded.apply(tf.data.experimental.assert_cardinality(len(table)))


def encoded_features(table, preprocessing, batch_size=PREDICT_BATCH):
    """The table's encoded rows in batches, without labels (for `predict`)."""
    return prefetched(encoded_dataset(table, preprocessing).batch(batch_size))


def table_pipeline(table, preprocessing, config, training):
    """(encoded features, label (1,)) batches: shuffled each epoch when `training`."""
    labels = tf.data.Dataset.from_tensor_slices(table.labels.reshape(-1, 1))
    dataset = tf.data.Dataset.zip(encoded_dataset(table, preprocessing), labels)
    return batched_pipeline(dataset, config.batch_size, training=training, seed=config.seed)


@dataclasses.dataclass
class ChurnInfo:
    """The fitted preprocessing and the tables the app trains and evaluates on (`DataSplits.info`).

    Attributes:
        columns: the table's feature columns.
        preprocessing: the `ChurnPreprocessing` fitted on the training rows.
        positive_rate: the share of churners among those rows (the output bias starts there).
        train_table, validation_table, test_table: the splits as tables (an ensemble's: its first fold).
        folds: a cross-fitted ensemble's `(train, validation)` tables, one pair per member; None
            for a single network.
    """

    columns: list
    preprocessing: ChurnPreprocessing
    positive_rate: float
    train_table: object
    validation_table: object
    test_table: object
    folds: "list | None" = None


def make_splits(table, config):
    """`DataSplits` of encoded pipelines; `info` (`ChurnInfo`) holds the fitted preprocessing and
    the raw tables the app trains and evaluates on.

    A single network (`ensemble` 1) trains on `train`, stops early and takes its threshold
    on `validation`. An ensemble is cross-fitted: `info.folds` holds one (train,
    validation) pair of tables per member, `train`/`validation` are the first pair, and
    the preprocessing is fitted on every non-test row (each is a training row of all
    members but one).
    """
    if config.ensemble == 1:
        train, validation, test = split_table(table, config)
        folds, fitted = None, train
    else:
        folds, fitted, test = cross_fit_tables(table, config)
        train, validation = folds[0]
    preprocessing = ChurnPreprocessing.fit(table.columns, fitted.features, config)
    tables = {"train": train, "validation": validation, "test": test}

    def pipeline(split, training):
        return table_pipeline(tables[split], preprocessing, config, training)

    return DataSplits.assemble(
        pipeline,
        {split: len(rows) for split, rows in tables.items()},
        (table.negative_label, config.positive_label),
        table.source,
        info=ChurnInfo(table.columns, preprocessing, float(fitted.labels.mean()), train, validation, test, folds),
    )
