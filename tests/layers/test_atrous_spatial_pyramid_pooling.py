import keras
import numpy as np
import pytest

from layers import AtrousSpatialPyramidPooling
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandard(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=AtrousSpatialPyramidPooling,
        init_kwargs={"filters": 4, "dilation_rates": (1, 2), "dropout": 0.1},
        inputs=[lc.InputSpec((2, 6, 6, 3))],
        expected_output_shape=(2, 6, 6, 4),
    )


def test_image_pooling_branch_is_the_same_at_every_position():
    """With every other branch zeroed, the output is the image-level features, broadcast."""
    x = np.random.default_rng(0).normal(size=(2, 5, 7, 3)).astype("float32")
    layer = AtrousSpatialPyramidPooling(4, dilation_rates=(2,))
    layer(x)
    for norm in layer.branch_norms:
        norm.gamma.assign(np.zeros(norm.gamma.shape, "float32"))
        norm.beta.assign(np.zeros(norm.beta.shape, "float32"))
    out = lc.to_numpy(layer(x, training=False))
    np.testing.assert_allclose(out, np.broadcast_to(out[:, :1, :1], out.shape), atol=1e-6)
    assert not np.allclose(out[0], out[1])  # but it depends on the image


def test_dilation_widens_the_receptive_field():
    """A single bright pixel reaches positions `rate` away through a dilated branch only."""
    x = np.zeros((1, 9, 9, 1), "float32")
    x[0, 4, 4] = 1.0
    layer = AtrousSpatialPyramidPooling(2, dilation_rates=(3,), activation="linear")
    layer(x)
    layer.pooling_norm.gamma.assign(np.zeros(layer.pooling_norm.gamma.shape, "float32"))
    base = lc.to_numpy(layer(np.zeros_like(x), training=False))
    out = lc.to_numpy(layer(x, training=False)) - base
    touched = np.abs(out[0]).sum(axis=-1) > 1e-6
    assert touched[4, 4] and touched[1, 1] and touched[7, 4]
    assert not touched[3, 3] and not touched[2, 4]


def test_deeplab_head_in_a_functional_model():
    inputs = keras.Input((32, 32, 8))
    x = AtrousSpatialPyramidPooling(16, dilation_rates=(2, 4))(inputs)
    outputs = keras.layers.Conv2D(3, 1)(x)
    model = keras.Model(inputs, outputs)
    assert tuple(model(np.zeros((2, 32, 32, 8), "float32")).shape) == (2, 32, 32, 3)
    assert len(model.layers[1].branch_convs) == 3


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"filters": 0}, "filters=0"),
        ({"filters": 4, "dilation_rates": ()}, r"dilation_rates=\(\)"),
        ({"filters": 4, "dilation_rates": 6}, "dilation_rates=6"),
        ({"filters": 4, "dilation_rates": (2, 0)}, "dilation_rates=0"),
        ({"filters": 4, "dropout": 1.0}, "dropout=1.0"),
        ({"filters": 4, "momentum": 1.5}, "momentum=1.5"),
    ],
)
def test_rejects_bad_arguments(kwargs, fragment):
    lc.check_invalid_argument(AtrousSpatialPyramidPooling, kwargs, fragment)


def test_rejects_wrong_rank():
    with pytest.raises(ValueError, match="rank 4"):
        AtrousSpatialPyramidPooling(4)(np.zeros((2, 5, 3), "float32"))
