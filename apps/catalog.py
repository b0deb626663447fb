"""The apps of the suite: one `AppEntry` each, registered in `REGISTRY` without importing them."""

from apps.core.registry import REGISTRY, AppEntry

APP_ENTRIES = (
    AppEntry("digits", "apps.digits.app:DigitsApp", "apps.digits.config:DigitsConfig",
             title="Handwritten digits (MNIST CNN)", objective="val_accuracy"),
    AppEntry("churn", "apps.churn.app:ChurnApp", "apps.churn.config:ChurnConfig",
             title="Customer churn (residual MLP on a churn CSV)", objective="val_auc"),
    AppEntry("sentiment", "apps.sentiment.app:SentimentApp", "apps.sentiment.config:SentimentConfig",
             title="Review sentiment (transformer / BiRNN on IMDB)", objective="val_accuracy"),
)


def load_apps():
    """The registry, holding every app of the catalog (each imported on first `get`)."""
    for entry in APP_ENTRIES:
        if entry.name not in REGISTRY:
            REGISTRY.add(entry)
    return REGISTRY
