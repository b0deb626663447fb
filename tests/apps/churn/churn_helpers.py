"""Helpers shared by the churn tests (plain functions; fixtures live in conftest.py)."""

from apps.churn.config import ChurnConfig


def tiny_config(**changes):
    """A config that trains in seconds: 400 generated rows, a cross-fitted ensemble of two
    narrow nets (the default's shape), two epochs."""
    base = ChurnConfig(data="builtin", builtin_rows=400, epochs=2, batch_size=64, depth=1, width=8,
                       numeric_bins=4, patience=2, ensemble=2, seed=3)
    return base.replace(**changes)


def write_csv(frame, path):
    frame.to_csv(path, index=False)
    return path
