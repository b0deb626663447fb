"""The apps of the suite: one `AppEntry` each, registered in `REGISTRY` without importing them."""

from apps.core.registry import REGISTRY, AppEntry

APP_ENTRIES = tuple(
    AppEntry(path)
    for path in (
        "apps.digits.app:DigitsApp",
        "apps.churn.app:ChurnApp",
        "apps.sentiment.app:SentimentApp",
        "apps.segmentation.app:SegmentationApp",
        "apps.dcgan.app:DcganApp",
        "apps.detection.app:DetectionApp",
    )
)


def load_apps():
    """The registry, holding every app of the catalog (each imported on first `get`)."""
    for entry in APP_ENTRIES:
        if entry.name not in REGISTRY:
            REGISTRY.add(entry)
    return REGISTRY
