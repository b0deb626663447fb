"""The detection app: boxes and classes of the objects in a photo, served from raw image bytes."""

import numpy as np
import tensorflow as tf

from apps.core.app import App, SampleRequest
from apps.core.images import read_displayed_image, read_image_files, serialized_example
from apps.detection import data as detection_data
from apps.detection.builtin import builtin_split
from apps.detection.config import DetectionConfig
from apps.detection.evaluation import PREDICTED_COLOR, draw_boxes, evaluate_detector, split_metrics
from apps.detection.model import build_model, decode, output_layer
from apps.detection.signatures import make_signatures

SAMPLE_SIZES = ((48, 64), (40, 40))  # sample requests: images of two sizes in one batch


def search_space(hp, config):
    """Width, depth, pyramid levels and the model's assignment (FCOS: centre radius and sizes
    per level; RetinaNet: anchor size and the positive IoU), as values of `DetectionConfig`
    (the shared choices add the learning rate, optimizer, batch size and epochs). Pyramid
    levels the image size cannot hold are left out."""
    levels = [
        count
        for count in (config.pyramid_levels - 1, config.pyramid_levels, config.pyramid_levels + 1)
        if 1 <= count <= 5 and config.image_size % (8 * 2 ** (count - 1)) == 0
    ]
    if config.model == "retinanet":
        assignment = dict(
            anchor_size=hp.Choice("anchor_size", [3.0, 4.0, 6.0]),
            positive_iou=hp.Choice("positive_iou", [0.4, 0.5, 0.6]),
        )
        assignment["negative_iou"] = min(config.negative_iou, assignment["positive_iou"])
    else:
        assignment = dict(
            center_radius=hp.Choice("center_radius", [1.0, 1.5, 2.5]),
            size_per_stride=hp.Choice("size_per_stride", [4.0, 8.0, 16.0]),
        )
    return config.replace(
        width=hp.Choice("width", sorted({max(4, config.width // 2), config.width, config.width * 2})),
        stage_blocks=hp.Choice(
            "stage_blocks", sorted({max(1, config.stage_blocks - 1), config.stage_blocks, config.stage_blocks + 1})
        ),
        pyramid_levels=hp.Choice("pyramid_levels", levels or [config.pyramid_levels]),
        **assignment,
    )


class DetectionApp(App):
    name = "detection"
    title = "Object detection (one-stage: FCOS-style or RetinaNet)"
    config_class = DetectionConfig
    default_tfds_name = "voc/2007"
    objective = "val_map50"
    objective_direction = "max"
    field_metric_names = ("map50", "map")
    known_limits = (
        "Only the training data's classes are found; anything else is background.",
        "Images are stretched to --image-size squares, so objects a few pixels tall at that size (far "
        "pedestrians, small signs) are missed and very wide or tall photos lose detail.",
        "At most --max-detections boxes per image are answered, each scoring at least --score-threshold.",
        "Image files whose header announces more pixels than --max-image-pixels are refused.",
    )

    def tiny_config(self):
        """48 builtin 64×64 scenes, a width-4 backbone, one epoch: seconds. Batches of 12 divide the
        validation (12) and test (96) scenes: one batch shape, one compilation on JAX. Its export
        answers every position (score threshold 0), so a barely trained model's answers hold
        boxes to check."""
        return DetectionConfig(
            data="builtin",
            epochs=1,
            batch_size=12,
            image_size=64,
            width=4,
            stage_blocks=1,
            pyramid_levels=3,
            head_depth=1,
            max_examples=48,
            validation_fraction=0.25,
            warmup_epochs=0.0,
            max_boxes=8,
            max_detections=20,
            pre_nms_candidates=64,
            score_threshold=0.0,
            field_metrics_every=1,
            seed=7,
        )

    # ----- data ---------------------------------------------------------------
    # Raw examples: the encoded image, its name, boxes in its own pixels, class ids, (height, width).
    record_features = detection_data.RECORD_FEATURES

    def load_tfds(self, name, config):
        return detection_data.load_tfds_detection(name, config)

    def load_files(self, path, config):
        return detection_data.load_files(path, config)

    def load_builtin(self, config):
        return detection_data.load_builtin(config)

    def splits_from_raw(self, raw, config):
        return detection_data.splits_from_raw(raw, config)

    # ----- model --------------------------------------------------------------
    def build_model(self, config, data):
        return build_model(config, data.class_names, data.train_examples)

    search_space = staticmethod(search_space)

    def field_metrics(self, model, dataset, config):
        """COCO AP50 and AP@[.5:.95] over the whole (validation) `dataset`."""
        metrics, _ = split_metrics(
            model, dataset, self._evaluation_decode(model, config), output_layer(model).class_names, config.image_size
        )
        return {name: metrics[name] for name in self.field_metric_names}

    def decode_predictions(self, predictions, model, score_threshold=None):
        """Raw outputs → `detection_boxes` (normalised `[ymin, xmin, ymax, xmax]`),
        `detection_scores`, `detection_classes` (class id + 1) and `num_detections`, after
        per-class non-max suppression (`apps.detection.model.decode`). The thresholds and the
        number of detections are the model's (from its config), unless `score_threshold` is
        given (evaluation scores down to `eval_score_threshold`)."""
        return decode(predictions, model, score_threshold)

    def _evaluation_decode(self, model, config):
        return lambda predictions, threshold=config.eval_score_threshold: self.decode_predictions(
            predictions, model, threshold
        )

    def evaluate(self, model, data, config, run):
        return evaluate_detector(model, data, config, run, self._evaluation_decode(model, config))

    def report(self, metrics):
        lines = [super().report(metrics)]
        lines += [f"ap[{name}]: {value:.4f}" for name, value in metrics.get("per_class_ap", {}).items()]
        return "\n".join(lines)

    # ----- serving ------------------------------------------------------------
    def serving_signatures(self, model, config):
        return make_signatures(model, self.decode_predictions, config)

    def app_descriptor(self, model, config, training):
        """The page uploads a photo to `serving_default`; boxes under `score_threshold` are not answered."""
        return {
            **super().app_descriptor(model, config, training),
            "image_input": "image_bytes",
            "class_names": list(output_layer(model).class_names),
            "score_threshold": config.score_threshold,
            "max_detections": config.max_detections,
            "max_image_pixels": config.max_image_pixels,
        }

    def sample_requests(self, config):
        images, _, _ = builtin_split("test", config.image_size)
        sized = [
            tf.cast(tf.image.resize(images[index], size), tf.uint8).numpy() for index, size in enumerate(SAMPLE_SIZES)
        ]
        encoded = np.array([tf.io.encode_png(sized[0]).numpy(), tf.io.encode_jpeg(sized[1]).numpy()], dtype=object)
        return [
            SampleRequest("serving_default", {"image_bytes": encoded}),
            SampleRequest("serve_uint8", {"input_tensor": images[:2]}),
            SampleRequest(
                "serve_tf_example", {"examples": np.array([serialized_example(item) for item in encoded], dtype=object)}
            ),
        ]

    def request_from_cli(self, items):
        return SampleRequest("serving_default", {"image_bytes": read_image_files(items)})

    @staticmethod
    def _found(outputs, index, height, width):
        """`(pixel boxes [k, 4], labels, scores)` of image `index` of an answer."""
        count = int(np.asarray(outputs["num_detections"]).ravel()[index])
        boxes = np.asarray(outputs["detection_boxes"])[index][:count] * [height, width, height, width]
        names = [
            bytes(name).decode() if isinstance(name, (bytes, np.bytes_)) else str(name)
            for name in np.asarray(outputs["detection_class_names"], dtype=object)[index][:count]
        ]
        return boxes, names, np.asarray(outputs["detection_scores"])[index][:count]

    def answer_files(self, outputs, items):
        """`<image>.detections.png`: each image with its detected boxes, names and scores drawn."""
        from apps.core.cli_inputs import output_stem

        files = {}
        for index, item in enumerate(items):
            image = read_displayed_image(item)
            boxes, names, scores = self._found(outputs, index, *image.shape[:2])
            drawn = draw_boxes(
                image, boxes, names, PREDICTED_COLOR, scores=scores, width=max(2, min(image.shape[:2]) // 200)
            )
            files[f"{output_stem(item, index)}.detections.png"] = tf.io.encode_png(drawn).numpy()
        return files

    def format_response(self, outputs, items):
        """Per image: how many objects, then one line each: class, score and box in pixels."""
        lines = []
        for index, item in enumerate(items):
            height, width = read_displayed_image(item).shape[:2]
            boxes, names, scores = self._found(outputs, index, height, width)
            lines.append(f"{item}: {len(boxes)} detection(s) in {width}x{height}")
            for (ymin, xmin, ymax, xmax), name, score in zip(boxes, names, scores):
                lines.append(f"  {name} {score:.2f}  x {xmin:.0f}-{xmax:.0f}, y {ymin:.0f}-{ymax:.0f}")
        return "\n".join(lines)
