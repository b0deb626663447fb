import keras
import numpy as np
import pytest

from layers import BottleneckBlock
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandard(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=BottleneckBlock,
        init_kwargs={"filters": 2, "strides": 2},
        inputs=[lc.InputSpec((2, 6, 6, 3))],
        expected_output_shape=(2, 3, 3, 8),
    )


def zero_last_norm(norm):
    norm.gamma.assign(np.zeros(norm.gamma.shape, "float32"))
    norm.beta.assign(np.zeros(norm.beta.shape, "float32"))


def test_zeroed_branch_is_identity():
    x = np.abs(np.random.default_rng(0).normal(size=(2, 5, 5, 8)))
    x = x.astype("float32")
    block = BottleneckBlock(filters=2, expansion=4)
    block(x)
    assert block.projection_conv is None
    zero_last_norm(block.expand_norm)
    lc.assert_close(block(x, training=False), x)


def test_zeroed_branch_is_projection():
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32")
    block = BottleneckBlock(filters=2, strides=2)
    block(x)
    zero_last_norm(block.expand_norm)
    # The reference is a plain strided 1x1 convolution with the same kernel.
    strided = keras.layers.Conv2D(block.projection_conv.filters, 1, strides=2, padding="same", use_bias=False)
    strided.build(x.shape)
    strided.set_weights(block.projection_conv.get_weights())
    projection = block.projection_norm(strided(x), training=False)
    lc.assert_close(block(x, training=False), np.maximum(lc.to_numpy(projection), 0.0))


def test_rejects_bad_arguments():
    lc.check_invalid_argument(BottleneckBlock, {"filters": 4, "expansion": 0}, "expansion=0")
