"""The classifiers' standard metrics, shared by the apps.

The decisions scored here (the predicted classes, the thresholded labels) come from
the app's `decode_predictions`, the step that serving uses too; nothing here
decides anything. The keys are those of the apps' `metrics.json`.
"""

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    classification_report,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

PER_CLASS_KEYS = ("precision", "recall", "f1-score", "support")


def _flat(values, dtype):
    return np.asarray(values).astype(dtype).reshape(-1)


def multiclass_metrics(true_classes, predicted_classes, class_names):
    """Accuracy, macro F1, per-class precision/recall/F1/support and the confusion matrix.

    Args:
        true_classes: the true class index of each example.
        predicted_classes: the decoded class index of each example.
        class_names: the name of each class index, in order.

    Returns:
        `{"accuracy", "macro_f1", "per_class": {name: {"precision", "recall",
        "f1-score", "support"}}, "confusion_matrix"}` (rows: true classes).
    """
    true, predicted = _flat(true_classes, int), _flat(predicted_classes, int)
    names = [str(name) for name in class_names]
    indices = list(range(len(names)))
    report = classification_report(
        true, predicted, labels=indices, target_names=names, output_dict=True, zero_division=0
    )
    return {
        "accuracy": float(np.mean(true == predicted)),
        "macro_f1": float(report["macro avg"]["f1-score"]),
        "per_class": {name: {key: float(report[name][key]) for key in PER_CLASS_KEYS} for name in names},
        "confusion_matrix": confusion_matrix(true, predicted, labels=indices).tolist(),
    }


def binary_metrics(labels, probabilities, decisions):
    """Ranking metrics of the positive-class probabilities and metrics of the decisions.

    Args:
        labels: the true 0/1 label of each example.
        probabilities: the predicted probability of class 1.
        decisions: the decoded 0/1 answer of each example (the app's threshold applied).

    Returns:
        `{"roc_auc", "pr_auc", "brier"}` from the probabilities (the two AUCs are NaN
        when the labels hold one class) and `{"precision", "recall", "f1" (of class 1),
        "accuracy", "confusion_matrix" ([[tn, fp], [fn, tp]])}` from the decisions.
    """
    labels, decisions = _flat(labels, int), _flat(decisions, int)
    probabilities = _flat(probabilities, float)
    both_classes = len(np.unique(labels)) == 2
    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, decisions, labels=[0, 1], average="binary", zero_division=0
    )
    return {
        "roc_auc": float(roc_auc_score(labels, probabilities)) if both_classes else float("nan"),
        "pr_auc": float(average_precision_score(labels, probabilities)) if both_classes else float("nan"),
        "brier": float(brier_score_loss(labels, probabilities, labels=[0, 1])),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "accuracy": float(np.mean(decisions == labels)),
        "confusion_matrix": confusion_matrix(labels, decisions, labels=[0, 1]).tolist(),
    }
