"""The detection app's typed config."""

import dataclasses
from typing import Literal

from apps.core.config import OPTIMIZER_CHOICES, AppConfig, ConfigError

MODELS = ("fcos", "retinanet")
# Fields only one model reads: the other model does not support them (`unsupported_fields`).
MODEL_FIELDS = {
    "fcos": ("center_radius", "size_per_stride"),
    "retinanet": ("anchor_size", "anchor_scales", "anchor_ratios", "positive_iou", "negative_iou"),
}
RESIDUAL_BACKBONE = "residual"
MAX_PYRAMID_LEVELS = 5


@dataclasses.dataclass
class DetectionConfig(AppConfig):
    """Detection settings; shared fields are documented on `AppConfig`.

    Attributes:
        model: `fcos`: a one-stage, anchor-free detector (FCOS-style: every position of
            every pyramid level inside an object predicts its class and its distances to
            the four sides of the box); `retinanet`: RetinaNet's anchors (several boxes of
            set sizes and shapes per position, each predicting its class and the offsets
            of the box from it).
        backbone: `residual` (stages of `layers.ConvResidualBlock`s built here, trained from
            scratch) or the name of a `keras.applications` network (`ResNet50`,
            `MobileNetV2`, `EfficientNetB0`...) whose features at strides 8, 16 and 32 feed
            the pyramid.
        backbone_weights: weights of a `keras.applications` backbone: `none` (random) or
            `imagenet` (downloaded; transfer learning).
        image_size: images are resized (stretched) to this square side for the network; boxes
            are answered relative to the image, so they map back to any original size.
        width: filters of the first backbone stage; each later stage doubles them (capped at
            8 × width).
        stage_blocks: residual blocks per backbone stage (the first one strided).
        pyramid_levels: pyramid levels from stride 8 on: 3 gives strides 8, 16, 32; 4 and 5
            add RetinaNet's stride-64 and -128 levels.
        pyramid_filters: channels of the pyramid and the heads (0: 4 × width).
        head_depth: 3×3 convolutions in each shared head (class and box) before its output.
        center_radius: a position is assigned to an object only within this many strides of
            the box centre (FCOS's centre sampling).
        size_per_stride: each level regresses objects whose largest side distance is between
            `size_per_stride / 2` and `size_per_stride` strides (the first level takes smaller
            objects, the last larger ones).
        anchor_size: RetinaNet: the side of a position's smallest square anchor, in strides.
        anchor_scales: RetinaNet: anchor sizes per octave (`anchor_size × 2^(i / scales)`).
        anchor_ratios: RetinaNet: anchor height/width ratios, each at every size.
        positive_iou, negative_iou: RetinaNet: an anchor learns an object it overlaps by at
            least `positive_iou`, background below `negative_iou`, neither in between.
        focal_alpha, focal_gamma: Keras' binary focal cross-entropy for the classes.
        box_loss_weight: weight of the CIoU box loss against the focal class loss.
        max_boxes: boxes kept per image in the pipelines (the largest when an image has more;
            the log says so).
        score_threshold: served detections score at least this (baked into the export).
        iou_threshold: non-max suppression drops a box that overlaps a better one of its class by
            more than this IoU (baked into the export).
        max_detections: most detections answered per image (baked into the export).
        pre_nms_candidates: best-scoring positions considered by non-max suppression.
        eval_score_threshold: detections scored by COCO evaluation and `val_map50` score at least
            this (COCO practice: a low threshold, so the precision-recall curve is complete).
        test_split: which images test when a source has no split of its own: a fraction
            (`0.2`: a seeded random fifth), `last:N` (the last N images in name order, the
            Penn-Fudan convention), `file:PATH` (a text file naming one image per line) or
            image names separated by commas.
        class_names: the classes, in class-id order; empty: the annotations' own names.
        augment: random horizontal flips, zooms (scale jitter and crops) and shifts, the boxes
            moved with the image; boxes pushed out of the image are clipped or dropped.
        zoom: largest zoom in or out, as a fraction of the image side.
        translation: largest shift, as a fraction of the image side.
        max_image_pixels: the exported signatures refuse an image file whose header announces
            more pixels (height × width) than this, before decoding it.
    """

    data: str = "tfds:voc/2007"
    model: Literal[MODELS] = "fcos"
    epochs: int = 150
    batch_size: int = 8
    learning_rate: float = 2e-3
    optimizer: Literal[OPTIMIZER_CHOICES] = "adamw"
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    validation_fraction: float = 0.1
    field_metrics_every: int = 5
    backbone: str = RESIDUAL_BACKBONE
    backbone_weights: str = "none"
    image_size: int = 256
    width: int = 16
    stage_blocks: int = 1
    pyramid_levels: int = 3
    pyramid_filters: int = 0
    head_depth: int = 2
    center_radius: float = 1.5
    size_per_stride: float = 8.0
    anchor_size: float = 4.0
    anchor_scales: int = 3
    anchor_ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    positive_iou: float = 0.5
    negative_iou: float = 0.4
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    box_loss_weight: float = 1.0
    max_boxes: int = 32
    score_threshold: float = 0.3
    iou_threshold: float = 0.6
    max_detections: int = 100
    pre_nms_candidates: int = 300
    eval_score_threshold: float = 0.05
    test_split: str = "0.2"
    class_names: tuple[str, ...] = ()
    augment: bool = True
    zoom: float = 0.3
    translation: float = 0.1
    max_image_pixels: int = 50_000_000

    def validate(self):
        super().validate()
        for name in (
            "image_size",
            "width",
            "stage_blocks",
            "epochs",
            "batch_size",
            "max_boxes",
            "max_detections",
            "pre_nms_candidates",
            "max_image_pixels",
            "head_depth",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be positive, got {getattr(self, name)}.")
        if not 1 <= self.pyramid_levels <= MAX_PYRAMID_LEVELS:
            raise ConfigError(f"--pyramid-levels must be 1..{MAX_PYRAMID_LEVELS}, got {self.pyramid_levels}.")
        stride = 8 * 2 ** (self.pyramid_levels - 1)
        if self.image_size % stride:
            raise ConfigError(
                f"--image-size {self.image_size} must be divisible by {stride}, the stride of the "
                f"coarsest of {self.pyramid_levels} pyramid levels."
            )
        if self.pyramid_filters < 0:
            raise ConfigError(f"--pyramid-filters must be 0 (4 x width) or positive, got {self.pyramid_filters}.")
        self._validate_anchors()
        for name in (
            "score_threshold",
            "iou_threshold",
            "eval_score_threshold",
            "focal_alpha",
            "positive_iou",
            "negative_iou",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"--{name.replace('_', '-')} must be in [0, 1], got {getattr(self, name)}.")
        if self.center_radius <= 0 or self.size_per_stride <= 0 or self.focal_gamma < 0 or self.box_loss_weight < 0:
            raise ConfigError(
                "--center-radius and --size-per-stride must be positive, --focal-gamma and "
                "--box-loss-weight at least 0."
            )
        if self.max_detections > self.pre_nms_candidates:
            raise ConfigError(
                f"--max-detections {self.max_detections} exceeds --pre-nms-candidates {self.pre_nms_candidates}."
            )
        if self.backbone_weights not in ("none", "imagenet"):
            raise ConfigError(f"--backbone-weights must be none or imagenet, got {self.backbone_weights!r}.")
        if self.backbone_weights == "imagenet" and self.backbone == RESIDUAL_BACKBONE:
            raise ConfigError(
                "--backbone-weights imagenet needs a keras.applications --backbone "
                "(e.g. ResNet50); the residual backbone trains from scratch."
            )
        if self.backbone != RESIDUAL_BACKBONE:
            import keras

            if not callable(getattr(keras.applications, self.backbone, None)):
                raise ConfigError(
                    f"--backbone {self.backbone!r} is neither `residual` nor a keras.applications "
                    "network (e.g. ResNet50, MobileNetV2, EfficientNetB0)."
                )
        parse_test_split(self.test_split)
        return self

    def unsupported_fields(self):
        return {
            **super().unsupported_fields(),
            **{
                name: f"only --model {model} uses it; --model {self.model} does not."
                for model, names in MODEL_FIELDS.items()
                if model != self.model
                for name in names
            },
        }

    def _validate_anchors(self):
        if self.anchor_size <= 0 or self.anchor_scales < 1 or not self.anchor_ratios or min(self.anchor_ratios) <= 0:
            raise ConfigError("--anchor-size and --anchor-ratios must be positive, --anchor-scales at least 1.")
        if self.negative_iou > self.positive_iou:
            raise ConfigError(f"--negative-iou {self.negative_iou} exceeds --positive-iou {self.positive_iou}.")


def parse_test_split(text):
    """`("fraction", float)`, `("last", int)`, `("file", path)` or `("names", tuple)` from
    `--test-split`; `ConfigError` for anything else."""
    text = text.strip()
    if text.startswith("last:"):
        count = text[len("last:") :]
        if not count.isdigit() or int(count) < 1:
            raise ConfigError(f"--test-split last:N needs a positive N, got {text!r}.")
        return "last", int(count)
    if text.startswith("file:"):
        if not text[len("file:") :]:
            raise ConfigError("--test-split file: needs a path to a file naming one test image per line.")
        return "file", text[len("file:") :]
    try:
        fraction = float(text)
    except ValueError:
        names = tuple(name.strip() for name in text.split(",") if name.strip())
        if not names:
            raise ConfigError("--test-split must be a fraction, last:N, file:PATH or image names.") from None
        return "names", names
    if not 0.0 < fraction < 1.0:
        raise ConfigError(f"--test-split as a fraction must be in (0, 1), got {text!r}.")
    return "fraction", fraction
