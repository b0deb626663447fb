import numpy as np
import pytest

from layers import RotaryEmbedding
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandard(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=RotaryEmbedding,
        init_kwargs={"max_wavelength": 100.0},
        inputs=[lc.InputSpec((2, 6, 8), padded_steps=2)],
        expected_output_shape=(2, 6, 8),
        mask_source="masking",
        has_weights=False,
    )


def numpy_rope(x, base=10000.0, scale=1.0, start=0):
    length, dim = x.shape[1], x.shape[-1]
    inv = base ** (-np.arange(0, dim, 2) / dim)
    angles = ((np.arange(length) + start) / scale)[:, None] * inv[None]
    shape = (1, length) + (1,) * (x.ndim - 3) + (dim // 2,)
    cos, sin = np.cos(angles).reshape(shape), np.sin(angles).reshape(shape)
    a, b = x[..., : dim // 2], x[..., dim // 2 :]
    return np.concatenate([a * cos - b * sin, b * cos + a * sin], -1)


@pytest.mark.parametrize("shape", [(2, 5, 8), (2, 5, 3, 4)])
def test_matches_numpy(shape):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    layer = RotaryEmbedding(scaling_factor=2.0)
    lc.assert_close(layer(x, start_index=3), numpy_rope(x, scale=2.0, start=3), atol=1e-5)


def test_scores_depend_only_on_relative_position():
    rng = np.random.default_rng(0)
    q = np.broadcast_to(rng.normal(size=(1, 1, 8)), (1, 6, 8)).astype("float32")
    k = np.broadcast_to(rng.normal(size=(1, 1, 8)), (1, 6, 8)).astype("float32")
    layer = RotaryEmbedding()
    rq, rk = lc.to_numpy(layer(q))[0], lc.to_numpy(layer(k))[0]
    np.testing.assert_allclose(rq[3] @ rk[1], rq[4] @ rk[2], rtol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(rq, axis=-1), np.linalg.norm(q[0], axis=-1), rtol=1e-5)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="scaling_factor=0"):
        RotaryEmbedding(scaling_factor=0)
    with pytest.raises(ValueError, match="even"):
        RotaryEmbedding()(np.zeros((2, 4, 5), "float32"))
