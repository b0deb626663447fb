import pytest

from apps.segmentation.app import SegmentationApp


def tiny_config(**changes):
    """The app's tiny config (64 builtin 32×32 images, width 4, one epoch), with `changes`."""
    return SegmentationApp().tiny_config().replace(**changes)


@pytest.fixture
def app():
    return SegmentationApp()
