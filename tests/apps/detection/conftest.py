import pytest

from apps.detection.app import DetectionApp


def tiny_config(**changes):
    """The app's tiny config (48 builtin 64×64 scenes, width 4, one epoch), with `changes`."""
    return DetectionApp().tiny_config().replace(**changes)


@pytest.fixture
def app():
    return DetectionApp()
