import numpy as np
import pytest

from layers import InvertedResidualBlock
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandardResidual(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=InvertedResidualBlock,
        init_kwargs={"filters": 4, "expansion": 3},
        inputs=[lc.InputSpec((2, 5, 5, 4))],
        expected_output_shape=(2, 5, 5, 4),
    )


class TestStandardStrided(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=InvertedResidualBlock,
        init_kwargs={"filters": 6, "strides": 2, "expansion": 1},
        inputs=[lc.InputSpec((2, 6, 6, 4))],
        expected_output_shape=(2, 3, 3, 6),
    )


def test_zeroed_branch_is_identity():
    x = np.random.default_rng(0).normal(size=(2, 5, 5, 4)).astype("float32")
    block = InvertedResidualBlock(4)
    block(x)
    assert block.use_residual
    block.project_norm.gamma.assign(np.zeros(4, "float32"))
    block.project_norm.beta.assign(np.zeros(4, "float32"))
    # Linear bottleneck: no activation after the sum, so any input works.
    lc.assert_close(block(x, training=False), x)


def test_no_residual_when_shape_changes():
    block = InvertedResidualBlock(6, strides=2)
    block(np.zeros((2, 6, 6, 4), "float32"))
    assert not block.use_residual
    assert block.expand_conv is not None


def test_rejects_bad_arguments():
    lc.check_invalid_argument(InvertedResidualBlock, {"filters": 4, "strides": -1}, "strides=-1")
