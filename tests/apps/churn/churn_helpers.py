"""Helpers shared by the churn tests (plain functions; fixtures live in conftest.py)."""

import tensorflow as tf

from apps.churn.app import ChurnApp


def tiny_config(**changes):
    """The app's tiny config (400 generated rows, a cross-fitted ensemble of two narrow
    nets, one epoch) with `changes`."""
    return ChurnApp().tiny_config().replace(**changes)


def write_csv(frame, path):
    frame.to_csv(path, index=False)
    return path


def rows(table, indices):
    """Raw feature arrays of some rows of a `ChurnTable` (copies, safe to edit)."""
    return {name: values[list(indices)].copy() for name, values in table.features.items()}


def encode(preprocessing, features):
    """The preprocessing's encoding of raw feature arrays, as NumPy."""
    return preprocessing.encode({name: tf.constant(values) for name, values in features.items()}).numpy()


def encoded_columns(preprocessing, prefix):
    """Positions of the encoded features whose name starts with `prefix`."""
    return [index for index, name in enumerate(preprocessing.encoded_names()) if name.startswith(prefix)]
