import pytest

from apps.dcgan.app import DcganApp


def tiny_config(**changes):
    """The app's tiny config (256 builtin digits, width-8 networks, one epoch), with `changes`."""
    return DcganApp().tiny_config().replace(**changes)


@pytest.fixture
def app():
    return DcganApp()
