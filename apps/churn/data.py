"""Churn data: the table (CSV or generated), stratified splits, tf.data pipelines."""

import numpy as np
import tensorflow as tf

from apps.churn.builtin import generate_telco_table
from apps.churn.table import parse_table, read_csv_text, stratified_split_indices
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
    if config.max_examples:
        train = train[:config.max_examples]
    return table.subset(train), table.subset(validation), table.subset(test)


def as_model_inputs(features):
    """Feature arrays (n,) → the (n, 1) arrays the model's inputs take."""
    return {name: np.asarray(values).reshape(-1, 1) for name, values in features.items()}


def table_dataset(table):
    features = as_model_inputs(table.features)
    return tf.data.Dataset.from_tensor_slices((features, table.labels.reshape(-1, 1)))


def make_splits(table, config):
    """`DataSplits` with batched pipelines; `info` holds what the model is fitted on."""
    train, validation, test = split_table(table, config)

    def pipeline(part, training):
        return batched_pipeline(table_dataset(part), config.batch_size, training=training, seed=config.seed)

    return DataSplits(
        train=pipeline(train, training=True),
        validation=pipeline(validation, training=False),
        test=pipeline(test, training=False),
        info={
            "source": table.source,
            "columns": table.columns,
            "negative_label": table.negative_label,
            "train_features": train.features,
            "positive_rate": float(train.labels.mean()),
            "train_examples": len(train),
            "validation_examples": len(validation),
            "test_examples": len(test),
            "validation_table": validation,
            "test_table": test,
        },
    )
