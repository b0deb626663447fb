"""Digits evaluation: accuracy, per-class precision/recall/F1 and PNG plots."""

import io
from pathlib import Path

import keras
import numpy as np

from apps.core.classification import multiclass_metrics
from apps.core.plots import plot_confusion_matrix, plot_image_grid, plot_learning_curves

MISCLASSIFIED_SHOWN = 32


def _labels_of(dataset):
    return np.concatenate([np.argmax(labels, axis=-1) for _, labels in dataset.as_numpy_iterator()])


def evaluate_classifier(model, data, run, decode):
    """Accuracy, per-class precision/recall/F1 and the confusion matrix on the test split
    (validation if there is none); `decode(probabilities)` is the app's decode step."""
    split_name, split = data.evaluation_split()
    probabilities = model.predict(split, verbose=0)
    true = _labels_of(split)
    predicted = keras.ops.convert_to_numpy(decode(probabilities)["classes"])
    metrics = multiclass_metrics(true, predicted, data.class_names)
    plots = _write_plots(run, data, split_name, np.asarray(metrics["confusion_matrix"]), true, predicted, probabilities)
    return {"split": split_name, "examples": int(len(true)), **metrics, "plots": plots}


def _write_plots(run, data, split_name, matrix, true, predicted, probabilities):
    plots = []
    history = run.load_history()
    if history:
        plots.append(plot_learning_curves(history, run.plot_path("learning_curves"), "digits"))
    plots.append(
        plot_confusion_matrix(
            matrix, data.class_names, run.plot_path("confusion_matrix"), f"Confusion matrix ({split_name})"
        )
    )
    if split_name == "test":
        images = data.info.test_images
        wrong = np.flatnonzero(true != predicted)[:MISCLASSIFIED_SHOWN]
        captions = [
            f"true {true[i]}, predicted {predicted[i]}\n(p={probabilities[i, predicted[i]]:.2f})" for i in wrong
        ]
        plots.append(
            plot_image_grid(
                images[wrong],
                captions,
                run.plot_path("misclassified"),
                f"Misclassified test digits ({len(np.flatnonzero(true != predicted))} in all; "
                "p: the model's probability of the digit it predicted)",
            )
        )
        write_sample_images(images, data.info.test_labels, run.path / "samples")
    return [str(path) for path in plots]


def write_sample_images(images, labels, folder, per_class=1):
    """PNG files of test digits, one per class, to try `kapps digits predict` on."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for digit in range(10):
        for rank, index in enumerate(np.flatnonzero(labels == digit)[:per_class]):
            path = folder / f"digit_{digit}_{rank}.png"
            buffer = io.BytesIO()
            Image.fromarray(np.asarray(images[index], dtype=np.uint8)).save(buffer, format="PNG")
            path.write_bytes(buffer.getvalue())
            paths.append(path)
    return paths
