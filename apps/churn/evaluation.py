"""Churn evaluation on the stratified test split: ranking and threshold metrics, PNG plots."""

import keras
import numpy as np
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

from apps.churn.data import encoded_features
from apps.churn.members import MemberRuns
from apps.churn.model import get_threshold
from apps.core.classification import binary_metrics
from apps.core.plots import _save, plot_confusion_matrix, plot_learning_curves, plt
from apps.core.tensorboard import write_pr_curve

CALIBRATION_BINS = 10


def decoded_predictions(model, table, decode_predictions):
    """`decode_predictions` of the model on the table's rows, encoded by the model's own
    preprocessing (the one it was trained and is served with), as NumPy arrays."""
    predictions = model.predict(encoded_features(table, model.preprocessing), verbose=0)
    return {name: keras.ops.convert_to_numpy(value) for name, value in decode_predictions(predictions, model).items()}


def evaluate_churn(model, data, config, run, decode_predictions):
    """Metrics on the test split, decisions by `decode_predictions` (the threshold stored in the model)."""
    test = data.info.test_table
    answers = decoded_predictions(model, test, decode_predictions)
    probabilities = answers["churn_probability"]
    metrics = {"threshold": get_threshold(model), **binary_metrics(test.labels, probabilities, answers["churn"])}
    plots = write_plots(run, test.labels.astype(int), probabilities, metrics, config)
    write_pr_curve(run, test.labels, probabilities)
    return {
        "split": "test",
        "source": data.source,
        "examples": len(test),
        "positive_rate": float(test.labels.mean()),
        "threshold_metric": config.threshold_metric,
        **metrics,
        "plots": plots,
    }


def plot_roc_curve(labels, probabilities, path):
    false_positive_rate, true_positive_rate, _ = roc_curve(labels, probabilities)
    figure, axis = plt.subplots(figsize=(4.8, 4.4))
    axis.plot(false_positive_rate, true_positive_rate, label=f"model (AUC {roc_auc_score(labels, probabilities):.3f})")
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
    axis.scatter([threshold_point[1]], [threshold_point[0]], color="red", zorder=3, label="chosen threshold")
    axis.set(xlabel="recall", ylabel="precision", title="Precision-recall curve (test)", xlim=(0, 1), ylim=(0, 1.02))
    axis.grid(alpha=0.3)
    axis.legend(loc="upper right")
    return _save(figure, path)


def plot_calibration(labels, probabilities, path):
    observed, predicted = calibration_curve(labels, probabilities, n_bins=CALIBRATION_BINS, strategy="quantile")
    figure, axis = plt.subplots(figsize=(4.8, 4.4))
    axis.plot(predicted, observed, marker="o", label="model")
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    axis.set(
        xlabel="mean predicted probability",
        ylabel="observed churn rate",
        title="Calibration (test, quantile bins)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left")
    return _save(figure, path)


def write_plots(run, labels, probabilities, metrics, config):
    plots = [
        plot_roc_curve(labels, probabilities, run.plot_path("roc_curve")),
        plot_pr_curve(labels, probabilities, (metrics["precision"], metrics["recall"]), run.plot_path("pr_curve")),
        plot_calibration(labels, probabilities, run.plot_path("calibration")),
        plot_confusion_matrix(
            np.array(metrics["confusion_matrix"]),
            ["stays", "churns"],
            run.plot_path("confusion_matrix"),
            f"Test confusion matrix (threshold {metrics['threshold']:.2f})",
        ),
    ]
    return [str(path) for path in plots + learning_curve_plots(run)]


def learning_curve_plots(run):
    """`learning_curves.png` of a single network, or one per member of a cross-fitted ensemble."""
    histories = [("learning_curves", run.load_history(), "churn")]
    for number, member_run in enumerate(MemberRuns(run).started(), start=1):
        histories.append(
            (f"learning_curves_member_{number}", member_run.load_history(), f"churn, ensemble member {number}")
        )
    return [plot_learning_curves(history, run.plot_path(name), title) for name, history, title in histories if history]
