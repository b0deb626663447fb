"""PNG plots shared by the apps (matplotlib, no display needed)."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


# Logged numbers that describe the training's bookkeeping, not how well the model does.
BOOKKEEPING_LOGS = ("learning_rate", "field_metrics_seconds")


def learning_curve_panels(history):
    """`{panel title: {label: values}}`: each training metric with its validation twin, then
    each validation-only metric (the whole-split ones: `val_map50`, `val_mean_iou`, `val_fid`...),
    without bookkeeping numbers."""
    names = [key for key in history if key not in BOOKKEEPING_LOGS]
    panels = {
        name: {"train": history[name], **({"validation": history[f"val_{name}"]} if f"val_{name}" in history else {})}
        for name in names
        if not name.startswith("val_")
    }
    panels.update(
        {
            name: {"validation": history[name]}
            for name in names
            if name.startswith("val_") and name[len("val_") :] not in panels
        }
    )
    return panels


def measured_points(values):
    """Epochs (from 1) and values of the measured points of a per-epoch series (NaN: not measured)."""
    values = np.asarray(values, dtype=float)
    epochs = np.arange(1, len(values) + 1)
    measured = ~np.isnan(values)
    return epochs[measured], values[measured]


def plot_series(axis, values, **style):
    """A per-epoch series on `axis`: only its measured points, as markers joined by a dashed line
    when some epochs were not measured."""
    epochs, measured = measured_points(values)
    sparse = len(measured) < len(values)
    axis.plot(epochs, measured, marker="o", linestyle="--" if sparse else "-", **style)


def plot_learning_curves(history, path, title="Learning curves"):
    """One panel per metric (training and validation together), the app's objective and
    whole-split metrics included; sparse metrics show their measured epochs only."""
    panels = learning_curve_panels(history)
    if not panels:
        raise ValueError("The history is empty: nothing to plot.")
    figure, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.6), squeeze=False)
    for axis, (name, series) in zip(axes[0], panels.items()):
        for label, values in series.items():
            plot_series(axis, values, label=label)
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    return _save(figure, path)


def plot_confusion_matrix(matrix, class_names, path, title="Confusion matrix"):
    matrix = np.asarray(matrix)
    size = max(4.0, 0.55 * len(class_names) + 2)
    figure, axis = plt.subplots(figsize=(size, size))
    image = axis.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axis, fraction=0.046)
    ticks = np.arange(len(class_names))
    axis.set_xticks(ticks, class_names, rotation=45 if len(class_names) > 10 else 0)
    axis.set_yticks(ticks, class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), value in np.ndenumerate(matrix):
        color = "white" if value > threshold else "black"
        axis.text(col, row, str(value), ha="center", va="center", color=color, fontsize=8)
    axis.set_title(title)
    return _save(figure, path)


def plot_image_grid(images, captions, path, title, columns=8):
    """A grid of grayscale or RGB images with a caption under each."""
    count = len(images)
    if count == 0:
        figure, axis = plt.subplots(figsize=(4, 1.5))
        axis.axis("off")
        axis.text(0.5, 0.5, "nothing to show", ha="center", va="center")
        return _save(figure, path)
    columns = min(columns, count)
    rows = int(np.ceil(count / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(max(1.6 * columns, 5.0), 2.0 * rows + 0.4), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, image, caption in zip(axes.flat, images, captions):
        image = np.asarray(image)
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        axis.imshow(image, cmap="gray" if image.ndim == 2 else None)
        axis.set_title(caption, fontsize=8)
    figure.suptitle(title, fontsize=10, wrap=True)
    return _save(figure, path)
