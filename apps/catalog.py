"""The apps of the suite: one `AppEntry` each, registered in `REGISTRY` without importing them."""

from apps.core.registry import REGISTRY, AppEntry

APP_ENTRIES = (
    AppEntry("digits", "apps.digits.app:DigitsApp", "apps.digits.config:DigitsConfig",
             title="Handwritten digits (MNIST CNN)", objective="val_accuracy"),
    AppEntry("churn", "apps.churn.app:ChurnApp", "apps.churn.config:ChurnConfig",
             title="Customer churn (residual MLP on a churn CSV)", objective="val_auc"),
    AppEntry("sentiment", "apps.sentiment.app:SentimentApp", "apps.sentiment.config:SentimentConfig",
             title="Review sentiment (transformer / BiRNN on IMDB)", objective="val_accuracy"),
    AppEntry("segmentation", "apps.segmentation.app:SegmentationApp", "apps.segmentation.config:SegmentationConfig",
             title="Semantic segmentation (residual U-Net / DeepLabV3+)", objective="val_mean_iou"),
    AppEntry("dcgan", "apps.dcgan.app:DcganApp", "apps.dcgan.config:DcganConfig",
             title="Image generation (DCGAN, measured by FID)", objective="val_fid"),
    AppEntry("detection", "apps.detection.app:DetectionApp", "apps.detection.config:DetectionConfig",
             title="Object detection (one-stage: FCOS-style or RetinaNet)", objective="val_map50"),
)


def load_apps():
    """The registry, holding every app of the catalog (each imported on first `get`)."""
    for entry in APP_ENTRIES:
        if entry.name not in REGISTRY:
            REGISTRY.add(entry)
    return REGISTRY
