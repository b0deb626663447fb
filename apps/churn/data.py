"""Churn data: the table (CSV or generated), stratified splits, tf.data pipelines."""

import numpy as np
import tensorflow as tf

from apps.churn.builtin import generate_telco_table
from apps.churn.table import cross_fit_indices, parse_table, read_csv_text, stratified_split_indices
from apps.core.data import DataSplits, batched_pipeline


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
        return load_csv_table(source.argument, config)
    if source.kind == "builtin":
        return load_builtin_table(config)
    raise ValueError("The churn app reads files:PATH (a CSV) or builtin, not TFDS.")


def split_table(table, config):
    """Stratified (train, validation, test) tables; `max_examples` caps training rows."""
    train, validation, test = stratified_split_indices(
        table.labels, config.test_fraction, config.validation_fraction, config.seed)
    return table.subset(_capped(train, config)), table.subset(validation), table.subset(test)


def cross_fit_tables(table, config):
    """`config.ensemble` stratified (train, validation) folds of the non-test rows (each
    row validates one fold), the table of every fold's training rows, and the test table;
    `max_examples` caps each fold's training rows."""
    folds, test = cross_fit_indices(table.labels, config.test_fraction, config.ensemble, config.seed)
    trains = [_capped(train, config) for train, _ in folds]
    return ([(table.subset(train), table.subset(validation)) for train, (_, validation) in zip(trains, folds)],
            table.subset(np.unique(np.concatenate(trains))), table.subset(test))


def _capped(rows, config):
    return rows[:config.max_examples] if config.max_examples else rows


def as_model_inputs(features):
    """Feature arrays (n,) → the (n, 1) arrays the model's inputs take."""
    return {name: np.asarray(values).reshape(-1, 1) for name, values in features.items()}


def table_dataset(table):
    features = as_model_inputs(table.features)
    return tf.data.Dataset.from_tensor_slices((features, table.labels.reshape(-1, 1)))


def table_pipeline(table, config, training):
    return batched_pipeline(table_dataset(table), config.batch_size, training=training, seed=config.seed)


def make_splits(table, config):
    """`DataSplits` with batched pipelines; `info` holds what the model is fitted on.

    A single network (`ensemble` 1) trains on `train`, stops early and takes its threshold
    on `validation`. An ensemble is cross-fitted: `info["folds"]` holds one (train,
    validation) pair of tables per member, `train`/`validation` are the first pair's
    pipelines, and the shared preprocessing is adapted on every non-test row (each is a
    training row of all members but one).
    """
    if config.ensemble == 1:
        train, validation, test = split_table(table, config)
        folds, fitted = None, train
    else:
        folds, fitted, test = cross_fit_tables(table, config)
        train, validation = folds[0]
    info = {
        "source": table.source,
        "columns": table.columns,
        "negative_label": table.negative_label,
        "train_features": fitted.features,
        "positive_rate": float(fitted.labels.mean()),
        "train_examples": len(train),
        "validation_examples": len(validation),
        "test_examples": len(test),
        "validation_table": validation,
        "test_table": test,
    }
    if folds:
        info["folds"] = folds
    return DataSplits(train=table_pipeline(train, config, training=True),
                      validation=table_pipeline(validation, config, training=False),
                      test=table_pipeline(test, config, training=False), info=info)
