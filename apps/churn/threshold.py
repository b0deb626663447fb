"""Choosing the decision threshold on validation data (never on the test split)."""

import numpy as np
from sklearn.metrics import roc_curve

DEFAULT_THRESHOLD = 0.5


def f_beta_by_threshold(labels, probabilities, beta):
    """F-beta at every distinct probability taken as the threshold (predict churn if p >= t)."""
    order = np.argsort(-probabilities, kind="stable")
    sorted_probabilities, sorted_labels = probabilities[order], labels[order]
    true_positives = np.cumsum(sorted_labels)
    predicted_positives = np.arange(1, len(labels) + 1)
    last_of_each_value = np.r_[np.flatnonzero(np.diff(sorted_probabilities)), len(labels) - 1]
    tp = true_positives[last_of_each_value]
    predicted = predicted_positives[last_of_each_value]
    positives = max(labels.sum(), 1)
    precision, recall = tp / predicted, tp / positives
    scores = (1 + beta**2) * precision * recall / np.maximum(beta**2 * precision + recall, 1e-12)
    return sorted_probabilities[last_of_each_value], scores


def choose_threshold(labels, probabilities, metric):
    """The threshold that maximises `metric` (`f1`, `f2`, `youden`) on these labels; `fixed`: 0.5."""
    labels = np.asarray(labels, dtype=np.float64).ravel()
    probabilities = np.asarray(probabilities, dtype=np.float64).ravel()
    if metric == "fixed" or labels.min() == labels.max():
        return DEFAULT_THRESHOLD
    if metric in ("f1", "f2"):
        thresholds, scores = f_beta_by_threshold(labels, probabilities, 1.0 if metric == "f1" else 2.0)
        return float(thresholds[np.argmax(scores)])
    if metric == "youden":
        false_positive_rate, true_positive_rate, thresholds = roc_curve(labels, probabilities)
        best = np.argmax(true_positive_rate - false_positive_rate)
        return float(min(thresholds[best], 1.0))
    raise ValueError(f"Unknown threshold metric {metric!r}.")
