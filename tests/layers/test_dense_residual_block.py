import numpy as np
import pytest

from layers import DenseResidualBlock
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandardProjection(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=DenseResidualBlock,
        init_kwargs={"units": 6, "dropout": 0.1, "seed": 0},
        inputs=[lc.InputSpec((2, 8))],
        expected_output_shape=(2, 6),
    )


class TestStandardSequenceBatchNorm(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=DenseResidualBlock,
        init_kwargs={"units": 8, "normalization": "batch"},
        inputs=[lc.InputSpec((2, 5, 8), padded_steps=2)],
        expected_output_shape=(2, 5, 8),
        mask_source="masking",
    )


def zero_residual_branch(block):
    for w in block.output_dense.weights:
        w.assign(np.zeros(w.shape, "float32"))


@pytest.mark.parametrize("normalization", ["layer", "batch", None])
def test_zeroed_branch_is_identity(normalization):
    x = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
    block = DenseResidualBlock(8, normalization=normalization)
    block(x)
    zero_residual_branch(block)
    lc.assert_close(block(x, training=True), x)


def test_zeroed_branch_is_projection():
    x = np.random.default_rng(0).normal(size=(2, 8)).astype("float32")
    block = DenseResidualBlock(5)
    block(x)
    zero_residual_branch(block)
    kernel = lc.to_numpy(block.projection.kernel)
    lc.assert_close(block(x), x @ kernel)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"units": 0}, "units=0"),
        ({"units": 4, "dropout": 1.0}, "dropout=1.0"),
        ({"units": 4, "normalization": "group"}, "normalization='group'"),
    ],
)
def test_rejects_bad_arguments(kwargs, fragment):
    lc.check_invalid_argument(DenseResidualBlock, kwargs, fragment)
