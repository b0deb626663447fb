"""Learning curves show the objective and the whole-split metrics at the epochs they were measured,
not bookkeeping numbers."""

import math

import numpy as np

from apps.core.plots import learning_curve_panels, measured_points, plot_learning_curves

NAN = math.nan
DETECTION_HISTORY = {
    "loss": [3.0, 2.0, 1.5],
    "val_loss": [3.1, 2.2, 1.9],
    "learning_rate": [0.1, 0.1, 0.01],
    "val_map50": [0.08, NAN, 0.3],
    "val_map": [0.02, NAN, 0.1],
    "field_metrics_seconds": [4.0, NAN, 4.2],
}


def test_panels_hold_the_field_metrics_and_no_bookkeeping():
    panels = learning_curve_panels(DETECTION_HISTORY)
    assert list(panels) == ["loss", "val_map50", "val_map"]
    assert set(panels["loss"]) == {"train", "validation"}
    assert panels["val_map50"] == {"validation": [0.08, NAN, 0.3]}


def test_a_twin_metric_keeps_its_training_panel():
    panels = learning_curve_panels({"accuracy": [0.5, 0.7], "val_accuracy": [0.6, 0.8]})
    assert list(panels) == ["accuracy"] and panels["accuracy"]["validation"] == [0.6, 0.8]


def test_only_measured_points_are_plotted():
    epochs, values = measured_points([0.08, NAN, NAN, 0.3])
    assert epochs.tolist() == [1, 4] and np.allclose(values, [0.08, 0.3])


def test_the_figure_is_written(tmp_path):
    path = plot_learning_curves(DETECTION_HISTORY, tmp_path / "learning_curves.png", "detection")
    assert path.stat().st_size > 0
