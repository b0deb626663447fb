import numpy as np
import pytest

from layers import MaskedChunkPooling
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


def pooled_mask(mask, pool_size):
    steps = mask.shape[1]
    return np.stack([mask[:, start : start + pool_size].any(1) for start in range(0, steps, pool_size)], axis=1)


class TestStandard(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=MaskedChunkPooling,
        init_kwargs={"pool_size": 2},
        inputs=[lc.InputSpec((2, 7, 4), padded_steps=3)],
        expected_output_shape=(2, 4, 4),
        mask_source="masking",
        expected_mask=lambda masks: pooled_mask(masks[0], 2),
        has_weights=False,
    )


def numpy_chunk_means(x, mask, pool_size):
    chunks = []
    for start in range(0, x.shape[1], pool_size):
        values = x[:, start : start + pool_size]
        weights = mask[:, start : start + pool_size, None]
        counts = weights.sum(1)
        chunks.append((values * weights).sum(1) / np.maximum(counts, 1))
    return np.stack(chunks, axis=1)


def test_averages_valid_steps_only():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 7, 3)).astype("float32")
    mask = np.array([[1] * 7, [1, 1, 1, 0, 0, 0, 0]], bool)
    pooled = lc.to_numpy(MaskedChunkPooling(3)(x, mask=mask))
    # Chunks from step 0, the last one the remainder (step 6 alone); padding
    # never enters a mean, and a chunk of padding only pools to zeros.
    np.testing.assert_allclose(pooled, numpy_chunk_means(x, mask, 3), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(pooled[1, 1:], 0.0)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="pool_size=0"):
        MaskedChunkPooling(0)
    with pytest.raises(ValueError, match="batch, steps, features"):
        MaskedChunkPooling(2)(np.zeros((2, 3), "float32"))
