"""Detection metrics by pycocotools' `COCOeval` (AP, AP50, AP75, AP small/medium/large, AR@100,
per-class AP) and PNG plots (detections over test images, precision-recall, learning curves).

Predictions go through the app's decode step with `eval_score_threshold` (COCO practice:
a low threshold, so the precision-recall curve runs to full recall); ground truth and
detections are compared in each image's original pixels when its size is known. The test
split streams through once: only the ground truth and the detections (and the first batch,
for the plots) are kept, whatever the split's size.
"""

import contextlib
import dataclasses
import io
from pathlib import Path

import keras
import numpy as np

from apps.core import plots  # noqa: F401  (selects matplotlib's headless backend)
from apps.core.distribute import predict_batch
from apps.core.images import write_sample_pngs
from apps.core.plots import plot_learning_curves
from apps.detection.data import unpack

SHOWN = 6
SAMPLES_WRITTEN = 4
STATS = ("map", "map50", "map75", "map_small", "map_medium", "map_large", "ar1", "ar10", "ar100", "ar_small",
         "ar_medium", "ar_large")
TRUE_COLOR, PREDICTED_COLOR = (40, 200, 60), (230, 40, 40)


@dataclasses.dataclass
class SplitPredictions:
    """What one pass over a split keeps: per image its ground truth `(boxes [k, 4] pixels at the
    network's size, classes [k])` and detections (the decoded dict's arrays, normalised boxes),
    the original sizes when the split carries them (else None), and the first images for plots
    (whole batches, at least `SHOWN` images): `{"images" uint8, "names", "truths"}`."""

    truths: list
    detections: list
    sizes: "list | None"
    first: "dict | None"


def predict_split(model, dataset, decode):
    """`SplitPredictions` over the batched `dataset`: elements `(images, targets)`, or `(images,
    targets, {"name", "size"})` (`DataSplits.info["test_described"]`)."""
    truths, detections, sizes, first = [], [], [], None
    for batch in dataset.as_numpy_iterator():
        images, targets = batch[:2]
        decoded = decode(predict_batch(model, images))
        decoded = {name: keras.ops.convert_to_numpy(value) for name, value in decoded.items()}
        batch_truths = unpack(targets)
        if first is None or len(first["images"]) < SHOWN:
            first = _first_images(first, images, batch_truths, batch[2]["name"] if len(batch) > 2 else None)
        truths += batch_truths
        if len(batch) > 2:
            sizes += [tuple(size) for size in batch[2]["size"]]
        for row in range(len(images)):
            count = int(decoded["num_detections"][row])
            detections.append({name: decoded[name][row][:count] for name in
                               ("detection_boxes", "detection_scores", "detection_classes")})
    return SplitPredictions(truths, detections, sizes or None, first)


def coco_documents(truths, detections, image_size, sizes, num_classes):
    """COCO ground-truth dict and detection list (`[x, y, width, height]` pixels of each image's
    original `sizes`, or of the network's square when `sizes` is None)."""
    images, annotations, results = [], [], []
    for index, ((boxes, classes), found) in enumerate(zip(truths, detections)):
        height, width = (int(sizes[index][0]), int(sizes[index][1])) if sizes is not None else (image_size, image_size)
        images.append({"id": index + 1, "height": height, "width": width})
        scale = np.array([height, width, height, width], np.float64)
        for box, label in zip(np.asarray(boxes, np.float64) / image_size * scale, classes):
            box_width, box_height = box[3] - box[1], box[2] - box[0]
            annotations.append({"id": len(annotations) + 1, "image_id": index + 1, "category_id": int(label) + 1,
                                "bbox": [box[1], box[0], box_width, box_height], "area": box_width * box_height,
                                "iscrowd": 0})
        for box, score, label in zip(np.asarray(found["detection_boxes"], np.float64) * scale,
                                     found["detection_scores"], found["detection_classes"]):
            results.append({"image_id": index + 1, "category_id": int(round(float(label))),
                            "bbox": [box[1], box[0], box[3] - box[1], box[2] - box[0]], "score": float(score)})
    truth = {"images": images, "annotations": annotations,
             "categories": [{"id": index + 1, "name": str(index)} for index in range(num_classes)]}
    return truth, results


def coco_evaluate(truth, results, class_names):
    """pycocotools' bounding-box evaluation: `{map, map50, ..., ar100, ..., per_class_ap}` and the
    precision array `[iou thresholds, recall points, classes, areas, max detections]` (None when
    nothing was detected). COCO's -1 (no object of that size) becomes NaN → reported as -1."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        ground = COCO()
        ground.dataset = truth
        ground.createIndex()
        if not results or not truth["annotations"]:
            metrics = {name: 0.0 for name in STATS}
            metrics["per_class_ap"] = {name: 0.0 for name in class_names}
            return metrics, None
        found = ground.loadRes(results)
        evaluator = COCOeval(ground, found, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    metrics = {name: float(value) for name, value in zip(STATS, evaluator.stats)}
    precision = evaluator.eval["precision"]  # [T, R, K, A, M]
    per_class = {}
    for index, name in enumerate(class_names):
        values = precision[:, :, index, 0, -1]
        values = values[values > -1]
        per_class[name] = float(values.mean()) if values.size else -1.0
    metrics["per_class_ap"] = per_class
    return metrics, precision


def _first_images(first, images, truths, names):
    names = [bytes(name).decode() for name in names] if names is not None else [""] * len(images)
    batch = {"images": images.astype(np.uint8), "names": names, "truths": truths}
    if first is None:
        return batch
    return {"images": np.concatenate([first["images"], batch["images"]]), "names": first["names"] + names,
            "truths": first["truths"] + truths}


def prediction_metrics(predictions, class_names, image_size):
    """COCO metrics (and the precision array) of `SplitPredictions`, in each image's original
    pixels when they carry its size, else at the network's size."""
    truth, results = coco_documents(predictions.truths, predictions.detections, image_size, predictions.sizes,
                                    len(class_names))
    return coco_evaluate(truth, results, class_names)


def split_metrics(model, dataset, decode, class_names, image_size):
    """COCO metrics of `model` on the batched `dataset` (and the precision array)."""
    return prediction_metrics(predict_split(model, dataset, decode), class_names, image_size)


def evaluate_detector(model, data, config, run, decode):
    """The metrics of the test split (validation if there is none), streamed once, and the plots."""
    split_name, split = data.evaluation_split()
    if split_name == "test":
        split = data.info.get("test_described", split)
    predictions = predict_split(model, split, decode)
    metrics, precision = prediction_metrics(predictions, data.class_names, config.image_size)
    metrics = {"split": split_name, "examples": int(data.test_examples if split_name == "test"
                                                    else data.validation_examples),
               "eval_score_threshold": config.eval_score_threshold, **metrics}
    return {**metrics, "plots": write_plots(model, data, config, run, metrics, precision, decode, predictions.first)}


def draw_boxes(image, boxes, names, color, scores=None, width=2):
    """A copy of uint8 `image` with pixel boxes `[ymin, xmin, ymax, xmax]` drawn by Keras'
    `keras.visualization.draw_bounding_boxes`, each labelled with its name (and score)."""
    image = np.asarray(image, np.uint8)
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if not len(boxes):
        return image.copy()
    annotations = {"boxes": boxes[None], "labels": np.arange(len(boxes))[None]}
    if scores is not None:
        annotations["confidences"] = np.asarray(scores, np.float32).reshape(1, -1)
    return keras.visualization.draw_bounding_boxes(
        image[None], annotations, "yxyx", class_mapping=dict(enumerate(names)), color=color,
        line_thickness=width, text_thickness=1, font_scale=max(0.3, min(image.shape[:2]) / 800))[0]


def plot_detections(model, first, class_names, config, path, decode):
    """The first test images (`first`: the first batch, see `SplitPredictions`), each with its
    true boxes (dashed green; named when there are several classes) and the detections scoring at least the serving
    threshold (solid red, labelled with class and score), drawn by matplotlib so the labels
    keep their size whatever the image's; a legend says which is which."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    # The whole batch is predicted (the shape the model already ran at), the first few shown.
    if first is None or not len(first["images"]):
        return None
    decoded = decode(model.predict_on_batch(first["images"].astype(np.float32)), config.score_threshold)
    decoded = {name: keras.ops.convert_to_numpy(value) for name, value in decoded.items()}
    images = first["images"][:SHOWN]
    columns = min(3, len(images))
    rows = -(-len(images) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(3.6 * columns, 3.7 * rows + 0.5), squeeze=False)
    for index, image in enumerate(images):
        axis = axes[index // columns, index % columns]
        axis.imshow(image)
        true_boxes, true_classes = first["truths"][index]
        for box, label in zip(np.asarray(true_boxes, np.float32).reshape(-1, 4), true_classes):
            _draw_box(axis, box, TRUE_COLOR, linestyle="--",
                      label=class_names[int(label)] if len(class_names) > 1 else None, at_bottom=True)
        count = int(decoded["num_detections"][index])
        for box, label, score in zip(decoded["detection_boxes"][index][:count] * config.image_size,
                                     decoded["detection_classes"][index][:count],
                                     decoded["detection_scores"][index][:count]):
            _draw_box(axis, box, PREDICTED_COLOR, label=f"{class_names[int(label) - 1]} {score:.2f}")
        axis.set_title(f"{Path(first['names'][index]).name[:28]}\n"
                       f"{len(true_boxes)} true, {count} found", fontsize=8)
    for axis in axes.ravel():
        axis.axis("off")
    handles = [Line2D([], [], color=np.array(TRUE_COLOR) / 255, linestyle="--", label="true box"),
               Line2D([], [], color=np.array(PREDICTED_COLOR) / 255,
                      label=f"detection, score ≥ {config.score_threshold:g} (class, score)")]
    figure.legend(handles=handles, loc="lower center", ncol=2, fontsize=8)
    figure.tight_layout(rect=(0, 0.45 / figure.get_figheight(), 1, 1), h_pad=1.5)
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def _draw_box(axis, box, color, linestyle="-", label=None, at_bottom=False):
    """A pixel box `[ymin, xmin, ymax, xmax]` on `axis`, with `label` on its top edge (inside
    its bottom edge with `at_bottom`: true boxes' names do not hide the detections')."""
    from matplotlib import patches

    ymin, xmin, ymax, xmax = (float(value) for value in box)
    color = np.array(color) / 255
    axis.add_patch(patches.Rectangle((xmin, ymin), xmax - xmin, ymax - ymin, fill=False, edgecolor=color,
                                     linewidth=1.5, linestyle=linestyle))
    if label:
        axis.text(xmin, ymax if at_bottom else ymin, label, fontsize=7, color="white",
                  va="top" if at_bottom else "bottom", clip_on=True,
                  bbox={"facecolor": color, "edgecolor": "none", "pad": 1, "alpha": 0.85})


def plot_precision_recall(precision, class_names, path, title):
    """Each class's COCO precision-recall curve at IoU 0.5 (all areas, 100 detections)."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(5, 4))
    recall = np.linspace(0, 1, 101)
    for index, name in enumerate(class_names):
        values = precision[0, :, index, 0, -1] if precision is not None else np.zeros_like(recall)
        values = np.where(values < 0, np.nan, values)
        ap = np.nanmean(values) if np.isfinite(values).any() else 0.0
        axis.plot(recall, values, label=f"{name} (AP50 {ap:.3f})")
    axis.set_xlabel("recall")
    axis.set_ylabel("precision")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.02)
    axis.set_title(title)
    axis.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_plots(model, data, config, run, metrics, precision, decode, first):
    paths = []
    history = run.load_history()
    if history:
        paths.append(plot_learning_curves(history, run.plot_path("learning_curves"), "detection"))
    paths.append(plot_precision_recall(precision, data.class_names, run.plot_path("precision_recall"),
                                       f"Precision-recall at IoU 0.5 ({metrics['split']})"))
    drawn = plot_detections(model, first, data.class_names, config, run.plot_path("detections"), decode)
    if drawn:
        paths.append(drawn)
    if first is not None:
        write_sample_pngs(first["images"], run.path / "samples", SAMPLES_WRITTEN)
    return [str(path) for path in paths]
