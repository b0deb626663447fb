"""The shared classification metrics, checked against hand-computed values."""

import math

import numpy as np
import pytest

from apps.core.classification import binary_metrics, multiclass_metrics


def test_multiclass_metrics_by_hand():
    true = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([0, 1, 1, 1, 0, 2])
    metrics = multiclass_metrics(true, predicted, ["cat", "dog", "eel"])
    assert metrics["accuracy"] == pytest.approx(4 / 6)
    assert metrics["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert metrics["per_class"]["dog"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1-score": 0.8, "support": 2.0}
    )
    assert metrics["per_class"]["eel"] == pytest.approx(
        {"precision": 1.0, "recall": 0.5, "f1-score": 2 / 3, "support": 2.0}
    )
    f1s = [metrics["per_class"][name]["f1-score"] for name in ("cat", "dog", "eel")]
    assert metrics["macro_f1"] == pytest.approx(np.mean(f1s))


def test_multiclass_metrics_keep_a_class_never_predicted():
    metrics = multiclass_metrics([0, 1], [0, 0], ["0", "1", "2"])
    assert metrics["per_class"]["2"] == {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0.0}
    assert len(metrics["confusion_matrix"]) == 3


def test_binary_metrics_by_hand_score_the_given_decisions():
    labels = np.array([1, 1, 0, 0, 1])
    probabilities = np.array([0.9, 0.4, 0.3, 0.6, 0.8])
    decisions = np.array([1, 0, 0, 0, 1])  # a 0.7 threshold: decisions are not recomputed at 0.5
    metrics = binary_metrics(labels, probabilities, decisions)
    assert metrics["confusion_matrix"] == [[2, 0], [1, 2]]
    assert metrics["accuracy"] == pytest.approx(0.8)
    assert metrics["precision"] == pytest.approx(1.0)
    assert metrics["recall"] == pytest.approx(2 / 3)
    assert metrics["f1"] == pytest.approx(0.8)
    assert metrics["roc_auc"] == pytest.approx(5 / 6)  # 5 of 6 (positive, negative) pairs ranked right
    assert metrics["pr_auc"] == pytest.approx(1 / 3 + 1 / 3 + 1 / 3 * 3 / 4)
    assert metrics["brier"] == pytest.approx(np.mean((probabilities - labels) ** 2))


def test_binary_metrics_of_a_single_class_have_no_auc():
    metrics = binary_metrics([1, 1, 1], [0.9, 0.2, 0.7], [1, 0, 1])
    assert math.isnan(metrics["roc_auc"]) and math.isnan(metrics["pr_auc"])
    assert metrics["accuracy"] == pytest.approx(2 / 3) and metrics["confusion_matrix"] == [[0, 0], [1, 2]]
