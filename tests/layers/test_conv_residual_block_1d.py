import numpy as np
import pytest

from layers import ConvResidualBlock1D
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandardStrided(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=ConvResidualBlock1D,
        init_kwargs={"filters": 6, "strides": 2},
        inputs=[lc.InputSpec((2, 8, 4), padded_steps=3)],
        expected_output_shape=(2, 4, 6),
        mask_source="masking",
        expected_mask=lambda masks: masks[0][:, ::2],
    )


class TestStandardIdentity(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=ConvResidualBlock1D,
        init_kwargs={"filters": 4, "kernel_size": 5},
        inputs=[lc.InputSpec((2, 8, 4), padded_steps=2)],
        expected_output_shape=(2, 8, 4),
        mask_source="masking",
    )


def test_padding_does_not_leak_into_valid_steps():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 8, 4)).astype("float32")
    mask = np.ones((2, 8), bool)
    mask[1, 5:] = False
    noisy = x.copy()
    noisy[1, 5:] = rng.normal(size=(3, 4)) * 100
    block = ConvResidualBlock1D(4)
    clean_out = lc.to_numpy(block(x, mask=mask, training=True))
    noisy_out = lc.to_numpy(block(noisy, mask=mask, training=True))
    np.testing.assert_allclose(clean_out[mask], noisy_out[mask], atol=1e-5)
    assert np.all(noisy_out[~mask] == 0.0)


def test_zeroed_branch_is_identity():
    x = np.abs(np.random.default_rng(0).normal(size=(2, 8, 4)))
    x = x.astype("float32")
    block = ConvResidualBlock1D(4)
    block(x)
    block.norm2.gamma.assign(np.zeros(4, "float32"))
    block.norm2.beta.assign(np.zeros(4, "float32"))
    lc.assert_close(block(x, training=False), x)


def test_rejects_bad_arguments():
    lc.check_invalid_argument(ConvResidualBlock1D, {"filters": 4, "kernel_size": 0}, "kernel_size=0")
