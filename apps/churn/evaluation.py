"""Churn evaluation on the stratified test split: ranking and threshold metrics, PNG plots."""

import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import (average_precision_score, brier_score_loss, confusion_matrix,
                             precision_recall_curve, precision_recall_fscore_support, roc_auc_score,
                             roc_curve)

from apps.churn.data import as_model_inputs
from apps.churn.model import get_threshold
from apps.core.plots import _save, plot_confusion_matrix, plot_learning_curves, plt

CALIBRATION_BINS = 10


def predict_probabilities(model, table, batch_size=2048):
    """Churn probabilities of every row of a `ChurnTable`."""
    import tensorflow as tf

    features = tf.data.Dataset.from_tensor_slices(as_model_inputs(table.features)).batch(batch_size)
    return np.asarray(model.predict(features, verbose=0)).ravel()


def threshold_metrics(labels, probabilities, threshold):
    decisions = (probabilities >= threshold).astype(int)
    precision, recall, f1, _ = precision_recall_fscore_support(
        labels, decisions, average="binary", zero_division=0)
    return {
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "accuracy": float(np.mean(decisions == labels)),
        "confusion_matrix": confusion_matrix(labels, decisions, labels=[0, 1]).tolist(),
    }


def classification_metrics(labels, probabilities, threshold):
    """ROC-AUC, PR-AUC (average precision), Brier score and the metrics at `threshold`."""
    labels = np.asarray(labels).astype(int).ravel()
    return {
        "roc_auc": float(roc_auc_score(labels, probabilities)),
        "pr_auc": float(average_precision_score(labels, probabilities)),
        "brier": float(brier_score_loss(labels, probabilities)),
        "threshold": float(threshold),
        **threshold_metrics(labels, probabilities, threshold),
    }


def evaluate_churn(model, data, config, run):
    """Metrics on the test split at the threshold chosen on validation (stored in the model)."""
    test = data.info["test_table"]
    probabilities = predict_probabilities(model, test)
    metrics = classification_metrics(test.labels, probabilities, get_threshold(model))
    plots = write_plots(run, test.labels.astype(int), probabilities, metrics, config)
    return {
        "split": "test",
        "source": data.info["source"],
        "examples": len(test),
        "positive_rate": float(test.labels.mean()),
        "threshold_metric": config.threshold_metric,
        **metrics,
        "plots": plots,
    }


def plot_roc_curve(labels, probabilities, path):
    false_positive_rate, true_positive_rate, _ = roc_curve(labels, probabilities)
    figure, axis = plt.subplots(figsize=(4.8, 4.4))
    axis.plot(false_positive_rate, true_positive_rate,
              label=f"model (AUC {roc_auc_score(labels, probabilities):.3f})")
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axis.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curve (test)")
    axis.grid(alpha=0.3)
    axis.legend(loc="lower right")
    return _save(figure, path)


def plot_pr_curve(labels, probabilities, threshold_point, path):
    precision, recall, _ = precision_recall_curve(labels, probabilities)
    figure, axis = plt.subplots(figsize=(4.8, 4.4))
    axis.plot(recall, precision, label=f"model (AP {average_precision_score(labels, probabilities):.3f})")
    axis.axhline(np.mean(labels), linestyle="--", color="grey", label="churn rate")
    axis.scatter([threshold_point[1]], [threshold_point[0]], color="red", zorder=3,
                 label="chosen threshold")
    axis.set(xlabel="recall", ylabel="precision", title="Precision-recall curve (test)",
             xlim=(0, 1), ylim=(0, 1.02))
    axis.grid(alpha=0.3)
    axis.legend(loc="upper right")
    return _save(figure, path)


def plot_calibration(labels, probabilities, path):
    observed, predicted = calibration_curve(labels, probabilities, n_bins=CALIBRATION_BINS,
                                            strategy="quantile")
    figure, axis = plt.subplots(figsize=(4.8, 4.4))
    axis.plot(predicted, observed, marker="o", label="model")
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    axis.set(xlabel="mean predicted probability", ylabel="observed churn rate",
             title="Calibration (test, quantile bins)", xlim=(0, 1), ylim=(0, 1))
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left")
    return _save(figure, path)


def write_plots(run, labels, probabilities, metrics, config):
    plots = [
        plot_roc_curve(labels, probabilities, run.plot_path("roc_curve")),
        plot_pr_curve(labels, probabilities, (metrics["precision"], metrics["recall"]),
                      run.plot_path("pr_curve")),
        plot_calibration(labels, probabilities, run.plot_path("calibration")),
        plot_confusion_matrix(np.array(metrics["confusion_matrix"]), ["stays", "churns"],
                              run.plot_path("confusion_matrix"),
                              f"Test confusion matrix (threshold {metrics['threshold']:.2f})"),
    ]
    return [str(path) for path in plots + learning_curve_plots(run)]


def learning_curve_plots(run):
    """`learning_curves.png` of a single network, or one per member of a cross-fitted ensemble."""
    from apps.churn.training import MemberRuns

    histories = [("learning_curves", run.load_history(), "churn")]
    for number, member_run in enumerate(MemberRuns(run).started(), start=1):
        histories.append((f"learning_curves_member_{number}", member_run.load_history(),
                          f"churn, ensemble member {number}"))
    return [plot_learning_curves(history, run.plot_path(name), title)
            for name, history, title in histories if history]
