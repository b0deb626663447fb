import numpy as np
import pytest

from layers import MaskedMeanMaxPooling
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandard(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=MaskedMeanMaxPooling,
        init_kwargs={},
        inputs=[lc.InputSpec((2, 5, 3), padded_steps=2)],
        expected_output_shape=(2, 6),
        mask_source="masking",
        # The mask is consumed: the pooled vectors carry none.
        expected_mask=lambda masks: np.ones((2, 6), bool),
        has_weights=False,
    )


def test_matches_numpy_masked_mean_and_max():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0], [0] * 6], bool)
    pooled = lc.to_numpy(MaskedMeanMaxPooling()(x, mask=mask))
    for row in range(2):
        valid = x[row][mask[row]]
        np.testing.assert_allclose(
            pooled[row],
            np.concatenate([valid.mean(0), valid.max(0)]),
            rtol=1e-5,
            atol=1e-6,
        )
    np.testing.assert_array_equal(pooled[2], np.zeros(8))  # an empty text
    unmasked = lc.to_numpy(MaskedMeanMaxPooling()(x))
    np.testing.assert_allclose(unmasked[:, 4:], x.max(1), rtol=1e-6)


def test_rejects_inputs_without_steps():
    with pytest.raises(ValueError, match="batch, steps, features"):
        MaskedMeanMaxPooling()(np.zeros((2, 3), "float32"))
