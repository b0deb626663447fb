"""Detection metrics by pycocotools' `COCOeval` (AP, AP50, AP75, AP small/medium/large, AR@100,
per-class AP) and PNG plots (detections over test images, precision-recall, learning curves).

Predictions go through the app's decode step with `eval_score_threshold` (COCO practice:
a low threshold, so the precision-recall curve runs to full recall); ground truth and
detections are compared in each image's original pixels when its size is known. A split
streams through once and is scored batch by batch (`CocoAccumulator`): what is kept grows by a
few bytes per detection, not by the COCO documents of the whole split.
"""

import contextlib
import copy
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
STATS = (
    "map",
    "map50",
    "map75",
    "map_small",
    "map_medium",
    "map_large",
    "ar1",
    "ar10",
    "ar100",
    "ar_small",
    "ar_medium",
    "ar_large",
)
TRUE_COLOR, PREDICTED_COLOR = (40, 200, 60), (230, 40, 40)


class CocoAccumulator:
    """pycocotools' bounding-box evaluation of a split fed a batch at a time, in memory that does
    not grow with the split's documents.

    `COCOeval` matches detections to ground truth image by image (`evaluate`) and only then
    pools the images (`accumulate`). Each batch is matched as it comes, by `evaluate` over that
    batch's images alone, and of its per-image results only what `accumulate` reads is kept, as
    compact arrays: per image, class and area range the detections' scores (float32) and, per IoU
    threshold, whether each was matched and whether it is ignored, and which ground-truth boxes
    are ignored. The COCO documents (a dict per box and detection) live for one batch; the
    metrics are pycocotools' own over the whole split, as if it had been evaluated at once.
    """

    def __init__(self, class_names, image_size):
        self.class_names = tuple(class_names)
        self.image_size = image_size
        self.images = self.annotations = self.detections = 0
        self.batches = []  # per batch: its compact evalImgs, [class][area] → list over its images

    def add(self, truths, detections, sizes=None):
        """One batch: per image `(boxes [k, 4] pixels at the network's size, classes [k])`, its
        decoded detections (normalised boxes) and, when known, its original `(height, width)`."""
        from pycocotools.cocoeval import COCOeval

        truth, results = coco_documents(
            truths, detections, self.image_size, sizes, len(self.class_names), first_id=self.images + 1
        )
        self.images += len(truths)
        self.annotations += len(truth["annotations"])
        self.detections += len(results)
        with contextlib.redirect_stdout(io.StringIO()):
            ground = _coco(truth)
            evaluator = COCOeval(
                ground, ground.loadRes(results) if results else _coco({**truth, "annotations": []}), "bbox"
            )
            evaluator.evaluate()
        areas, count = len(evaluator.params.areaRng), len(truths)
        compact = [_compact(entry) for entry in evaluator.evalImgs]  # ordered class, area, image
        self.batches.append(
            [
                [compact[(k * areas + a) * count : (k * areas + a + 1) * count] for a in range(areas)]
                for k in range(len(self.class_names))
            ]
        )

    def result(self):
        """`{map, map50, ..., ar100, ..., per_class_ap}` and the precision array `[iou thresholds,
        recall points, classes, areas, max detections]` (None when nothing was detected). COCO's -1
        (no object of that size) is reported as -1."""
        from pycocotools.cocoeval import COCOeval

        if not self.detections or not self.annotations:
            metrics = {name: 0.0 for name in STATS}
            metrics["per_class_ap"] = {name: 0.0 for name in self.class_names}
            return metrics, None
        evaluator = COCOeval(iouType="bbox")
        evaluator.params.imgIds = list(range(1, self.images + 1))
        evaluator.params.catIds = list(range(1, len(self.class_names) + 1))
        areas = len(evaluator.params.areaRng)
        evaluator.evalImgs = [
            entry
            for k in range(len(self.class_names))
            for a in range(areas)
            for batch in self.batches
            for entry in batch[k][a]
        ]
        evaluator._paramsEval = copy.deepcopy(evaluator.params)
        with contextlib.redirect_stdout(io.StringIO()):
            evaluator.accumulate()
            evaluator.summarize()
        metrics = {name: float(value) for name, value in zip(STATS, evaluator.stats)}
        precision = evaluator.eval["precision"]  # [T, R, K, A, M]
        per_class = {}
        for index, name in enumerate(self.class_names):
            values = precision[:, :, index, 0, -1]
            values = values[values > -1]
            per_class[name] = float(values.mean()) if values.size else -1.0
        metrics["per_class_ap"] = per_class
        return metrics, precision


def _coco(document):
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = document
    coco.createIndex()
    return coco


def _compact(entry):
    """What `COCOeval.accumulate` reads of one image's `evaluateImg` result, in compact arrays
    (a match is the matched box's id, never 0: a flag is enough)."""
    if entry is None:
        return None
    return {
        "dtScores": np.asarray(entry["dtScores"], np.float32),
        "dtMatches": entry["dtMatches"] > 0,
        "dtIgnore": np.asarray(entry["dtIgnore"], bool),
        "gtIgnore": np.asarray(entry["gtIgnore"], bool),
    }


def coco_documents(truths, detections, image_size, sizes, num_classes, first_id=1):
    """COCO ground-truth dict and detection list (`[x, y, width, height]` pixels of each image's
    original `sizes`, or of the network's square when `sizes` is None), images numbered from `first_id`."""
    images, annotations, results = [], [], []
    for index, ((boxes, classes), found) in enumerate(zip(truths, detections)):
        image_id = first_id + index
        height, width = (int(sizes[index][0]), int(sizes[index][1])) if sizes is not None else (image_size, image_size)
        images.append({"id": image_id, "height": height, "width": width})
        scale = np.array([height, width, height, width], np.float64)
        for box, label in zip(np.asarray(boxes, np.float64) / image_size * scale, classes):
            box_width, box_height = box[3] - box[1], box[2] - box[0]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(label) + 1,
                    "bbox": [box[1], box[0], box_width, box_height],
                    "area": box_width * box_height,
                    "iscrowd": 0,
                }
            )
        for box, score, label in zip(
            np.asarray(found["detection_boxes"], np.float64) * scale,
            found["detection_scores"],
            found["detection_classes"],
        ):
            results.append(
                {
                    "image_id": image_id,
                    "category_id": int(round(float(label))),
                    "bbox": [box[1], box[0], box[3] - box[1], box[2] - box[0]],
                    "score": float(score),
                }
            )
    truth = {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": index + 1, "name": str(index)} for index in range(num_classes)],
    }
    return truth, results


def _first_images(first, images, truths, names):
    names = [bytes(name).decode() for name in names] if names is not None else [""] * len(images)
    batch = {"images": images.astype(np.uint8), "names": names, "truths": truths}
    if first is None:
        return batch
    return {
        "images": np.concatenate([first["images"], batch["images"]]),
        "names": first["names"] + names,
        "truths": first["truths"] + truths,
    }


def score_split(model, dataset, decode, class_names, image_size):
    """`(metrics, precision, first)` of `model` on the batched `dataset`, streamed once: elements
    `(images, targets)`, or `(images, targets, {"name", "size"})` (`DataSplits.info.test_described`),
    whose boxes are then compared in each image's original pixels. `first`: the first images for
    the plots (whole batches, at least `SHOWN` images): `{"images" uint8, "names", "truths"}`."""
    accumulator, first = CocoAccumulator(class_names, image_size), None
    for batch in dataset.as_numpy_iterator():
        images, targets = batch[:2]
        decoded = decode(predict_batch(model, images))
        decoded = {name: keras.ops.convert_to_numpy(value) for name, value in decoded.items()}
        truths = unpack(targets)
        if first is None or len(first["images"]) < SHOWN:
            first = _first_images(first, images, truths, batch[2]["name"] if len(batch) > 2 else None)
        detections = [
            {
                name: decoded[name][row][: int(decoded["num_detections"][row])]
                for name in ("detection_boxes", "detection_scores", "detection_classes")
            }
            for row in range(len(images))
        ]
        accumulator.add(truths, detections, batch[2]["size"] if len(batch) > 2 else None)
    return (*accumulator.result(), first)


def split_metrics(model, dataset, decode, class_names, image_size):
    """COCO metrics of `model` on the batched `dataset` (and the precision array)."""
    metrics, precision, _ = score_split(model, dataset, decode, class_names, image_size)
    return metrics, precision


def evaluate_detector(model, data, config, run, decode):
    """The metrics of the test split (validation if there is none), streamed once, and the plots."""
    split_name, split = data.evaluation_split()
    if split_name == "test":
        split = data.info.test_described if data.info.test_described is not None else split
    metrics, precision, first = score_split(model, split, decode, data.class_names, config.image_size)
    metrics = {
        "split": split_name,
        "examples": int(data.test_examples if split_name == "test" else data.validation_examples),
        "eval_score_threshold": config.eval_score_threshold,
        **metrics,
    }
    return {**metrics, "plots": write_plots(model, data, config, run, metrics, precision, decode, first)}


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
        image[None],
        annotations,
        "yxyx",
        class_mapping=dict(enumerate(names)),
        color=color,
        line_thickness=width,
        text_thickness=1,
        font_scale=max(0.3, min(image.shape[:2]) / 800),
    )[0]


def plot_detections(model, first, class_names, config, path, decode):
    """The first test images (`first`: the first batches, see `score_split`), each with its
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
            _draw_box(
                axis,
                box,
                TRUE_COLOR,
                linestyle="--",
                label=class_names[int(label)] if len(class_names) > 1 else None,
                at_bottom=True,
            )
        count = int(decoded["num_detections"][index])
        for box, label, score in zip(
            decoded["detection_boxes"][index][:count] * config.image_size,
            decoded["detection_classes"][index][:count],
            decoded["detection_scores"][index][:count],
        ):
            _draw_box(axis, box, PREDICTED_COLOR, label=f"{class_names[int(label) - 1]} {score:.2f}")
        axis.set_title(f"{Path(first['names'][index]).name[:28]}\n{len(true_boxes)} true, {count} found", fontsize=8)
    for axis in axes.ravel():
        axis.axis("off")
    handles = [
        Line2D([], [], color=np.array(TRUE_COLOR) / 255, linestyle="--", label="true box"),
        Line2D(
            [],
            [],
            color=np.array(PREDICTED_COLOR) / 255,
            label=f"detection, score ≥ {config.score_threshold:g} (class, score)",
        ),
    ]
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
    axis.add_patch(
        patches.Rectangle(
            (xmin, ymin), xmax - xmin, ymax - ymin, fill=False, edgecolor=color, linewidth=1.5, linestyle=linestyle
        )
    )
    if label:
        axis.text(
            xmin,
            ymax if at_bottom else ymin,
            label,
            fontsize=7,
            color="white",
            va="top" if at_bottom else "bottom",
            clip_on=True,
            bbox={"facecolor": color, "edgecolor": "none", "pad": 1, "alpha": 0.85},
        )


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
    paths.append(
        plot_precision_recall(
            precision,
            data.class_names,
            run.plot_path("precision_recall"),
            f"Precision-recall at IoU 0.5 ({metrics['split']})",
        )
    )
    drawn = plot_detections(model, first, data.class_names, config, run.plot_path("detections"), decode)
    if drawn:
        paths.append(drawn)
    if first is not None:
        write_sample_pngs(first["images"], run.path / "samples", SAMPLES_WRITTEN)
    return [str(path) for path in paths]
