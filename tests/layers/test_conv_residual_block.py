import keras
import numpy as np
import pytest

from layers import ConvResidualBlock
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandard(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=ConvResidualBlock,
        init_kwargs={"filters": 4, "strides": 2},
        inputs=[lc.InputSpec((2, 7, 7, 3))],
        expected_output_shape=(2, 4, 4, 4),
    )


def zero_last_norm(norm):
    norm.gamma.assign(np.zeros(norm.gamma.shape, "float32"))
    norm.beta.assign(np.zeros(norm.beta.shape, "float32"))


def test_zeroed_branch_is_identity():
    x = np.abs(np.random.default_rng(0).normal(size=(2, 6, 6, 4)))
    x = x.astype("float32")  # non-negative, so the final ReLU is a no-op
    block = ConvResidualBlock(4)
    block(x)
    assert block.projection_conv is None
    zero_last_norm(block.norm2)
    lc.assert_close(block(x, training=False), x)


def test_zeroed_branch_is_projection():
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32")
    block = ConvResidualBlock(5, strides=2)
    block(x)
    zero_last_norm(block.norm2)
    # The reference is a plain strided 1x1 convolution with the same kernel.
    strided = keras.layers.Conv2D(5, 1, strides=2, padding="same", use_bias=False)
    strided.build(x.shape)
    strided.set_weights(block.projection_conv.get_weights())
    projection = block.projection_norm(strided(x), training=False)
    expected = np.maximum(lc.to_numpy(projection), 0.0)
    lc.assert_close(block(x, training=False), expected)


def test_digits_functional_model():
    inputs = keras.Input((28, 28, 1))
    x = ConvResidualBlock(8)(inputs)
    x = ConvResidualBlock(16, strides=2)(x)
    outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    assert tuple(model.layers[2].output.shape) == (None, 14, 14, 16)
    assert tuple(model(np.zeros((2, 28, 28, 1), "float32")).shape) == (2, 10)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"filters": 0}, "filters=0"),
        ({"filters": 4, "strides": 0}, "strides=0"),
        ({"filters": 4, "strides": (1, 2)}, r"strides=\(1, 2\)"),
        ({"filters": 4, "momentum": 1.5}, "momentum=1.5"),
    ],
)
def test_rejects_bad_arguments(kwargs, fragment):
    lc.check_invalid_argument(ConvResidualBlock, kwargs, fragment)


def test_rejects_wrong_rank():
    with pytest.raises(ValueError, match="rank 4"):
        ConvResidualBlock(4)(np.zeros((2, 5, 3), "float32"))
