"""Segmentation metrics (mean IoU, per-class IoU, pixel accuracy, Dice) and PNG plots.

One confusion matrix over every counted pixel of a split (Keras' `MeanIoU` keeps it)
gives all the metrics; pixels marked with the ignored id count for none.
"""

import keras
import numpy as np

from apps.core import plots  # noqa: F401  (selects matplotlib's headless backend)
from apps.core.distribute import predict_batch
from apps.core.images import write_sample_pngs
from apps.core.plots import plot_learning_curves
from apps.segmentation.masks import PALETTE, class_colors, colorize

OVERLAYS_SHOWN = 6
SAMPLES_WRITTEN = 4
OVERLAY_ALPHA = 0.5


def confusion_matrix(model, dataset, num_classes, ignore_class, decode):
    """`[true, predicted]` pixel counts of `model` on the batched `dataset`, through the app's
    decode step; pixels whose true id is `ignore_class` are left out. The model runs through
    its compiled predict function (an eager call would compile op by op on JAX)."""
    metric = keras.metrics.MeanIoU(num_classes, ignore_class=ignore_class)
    for images, masks in dataset.as_numpy_iterator():
        predicted = decode(predict_batch(model, images))["mask"]
        metric.update_state(masks[..., 0], predicted)
    return keras.ops.convert_to_numpy(metric.total_cm).astype(np.int64)


def scores(matrix, class_names):
    """Mean IoU (over the classes that occur in the truth or the prediction, as Keras'
    `MeanIoU`), per-class IoU and Dice, pixel accuracy and mean Dice of a confusion matrix."""
    true_positives = np.diag(matrix).astype(np.float64)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    union = predicted + actual - true_positives
    present = union > 0
    iou = np.divide(true_positives, union, out=np.zeros_like(true_positives), where=present)
    dice = np.divide(2 * true_positives, predicted + actual, out=np.zeros_like(true_positives), where=present)
    return {
        "mean_iou": float(iou[present].mean()) if present.any() else 0.0,
        "pixel_accuracy": float(true_positives.sum() / max(1, matrix.sum())),
        "mean_dice": float(dice[present].mean()) if present.any() else 0.0,
        "per_class_iou": {name: float(value) for name, value in zip(class_names, iou)},
        "per_class_dice": {name: float(value) for name, value in zip(class_names, dice)},
    }


def evaluate_segmenter(model, data, config, run, decode):
    """The metrics of the test split (validation if there is none) and the plots."""
    split_name, split = data.evaluation_split()
    matrix = confusion_matrix(model, split, len(data.class_names), config.ignore_class, decode)
    metrics = {
        "split": split_name,
        "examples": int(data.test_examples if split_name == "test" else data.validation_examples),
        **scores(matrix, data.class_names),
        "confusion_matrix": matrix.tolist(),
    }
    return {**metrics, "plots": write_plots(model, data, config, run, metrics, decode)}


def overlay(images, masks, num_classes, ignore_class):
    """Masks `[n, h, w]` blended over uint8 images `[n, h, w, 3]` by `keras.visualization`, in the
    classes' colours (`apps.segmentation.masks`)."""
    return keras.visualization.draw_segmentation_masks(
        np.asarray(images),
        np.asarray(masks, np.int32)[..., None],
        num_classes=num_classes,
        color_mapping=class_colors(num_classes),
        alpha=OVERLAY_ALPHA,
        ignore_index=ignore_class,
    )


def first_examples(dataset, count):
    """`(uint8 images [n, h, w, 3], masks [n, h, w])`: the first `count` examples of the batched
    `dataset`, read from the stream."""
    images, masks = next(dataset.unbatch().take(count).batch(count).as_numpy_iterator())
    return images.astype(np.uint8), masks[..., 0]


def plot_overlays(model, images, true, data, config, path, decode):
    """Rows of test images: the image, then the true and the predicted mask in the classes'
    solid colours (those of the legend; ignored pixels in their own colour)."""
    import matplotlib.pyplot as plt

    predicted = keras.ops.convert_to_numpy(decode(model.predict_on_batch(images.astype(np.float32)))["mask"])
    columns = [("image", images), ("true mask", colorize(true)), ("predicted mask", colorize(predicted))]
    figure, axes = plt.subplots(len(images), 3, figsize=(6.6, 2.2 * len(images) + 0.5), squeeze=False)
    for row in range(len(images)):
        for column, (title, pictures) in enumerate(columns):
            axes[row, column].imshow(pictures[row], interpolation="nearest")
            axes[row, column].axis("off")
            if row == 0:
                axes[row, column].set_title(title)
    legend = list(enumerate(data.class_names))
    if np.any(true == config.ignore_class):
        legend.append((config.ignore_class, "ignored"))
    handles = [plt.Rectangle((0, 0), 1, 1, color=PALETTE[index] / 255) for index, _ in legend]
    figure.legend(handles, [name for _, name in legend], loc="lower center", ncol=min(len(legend), 5), fontsize=8)
    figure.tight_layout(rect=(0, 0.5 / figure.get_figheight(), 1, 1))
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_class_iou(metrics, path, title):
    """A bar per class: its IoU on the evaluated split, the mean IoU as a line."""
    import matplotlib.pyplot as plt

    names, values = zip(*metrics["per_class_iou"].items())
    figure, axis = plt.subplots(figsize=(max(4.0, 0.6 * len(names) + 2), 3.4))
    axis.bar(range(len(names)), values, color="tab:blue")
    axis.axhline(metrics["mean_iou"], color="tab:red", linestyle="--", label=f"mean {metrics['mean_iou']:.3f}")
    axis.set_xticks(
        range(len(names)), names, rotation=45 if len(names) > 6 else 0, ha="right" if len(names) > 6 else "center"
    )
    axis.set_ylim(0, 1)
    axis.set_ylabel("IoU")
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_plots(model, data, config, run, metrics, decode):
    paths = []
    history = run.load_history()
    if history:
        paths.append(plot_learning_curves(history, run.plot_path("learning_curves"), "segmentation"))
    paths.append(plot_class_iou(metrics, run.plot_path("class_iou"), f"Per-class IoU ({metrics['split']})"))
    images, masks = first_examples(data.evaluation_split()[1], max(OVERLAYS_SHOWN, SAMPLES_WRITTEN))
    paths.append(
        plot_overlays(
            model, images[:OVERLAYS_SHOWN], masks[:OVERLAYS_SHOWN], data, config, run.plot_path("overlays"), decode
        )
    )
    write_sample_pngs(images, run.path / "samples", SAMPLES_WRITTEN)
    return [str(path) for path in paths]
