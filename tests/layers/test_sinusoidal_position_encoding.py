import numpy as np
import pytest

from layers import SinusoidalPositionEncoding
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandard(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=SinusoidalPositionEncoding,
        init_kwargs={},
        inputs=[lc.InputSpec((2, 6, 8), padded_steps=2)],
        expected_output_shape=(2, 6, 8),
        mask_source="masking",
        has_weights=False,
    )


def numpy_table(length, d, base=10000.0):
    """PE[pos, 2i] = sin(pos / base^(2i/d)), PE[pos, 2i+1] = cos(...)."""
    table = np.zeros((length, d))
    for pos in range(length):
        for i in range((d + 1) // 2):
            angle = pos / base ** (2 * i / d)
            table[pos, 2 * i] = np.sin(angle)
            if 2 * i + 1 < d:
                table[pos, 2 * i + 1] = np.cos(angle)
    return table


@pytest.mark.parametrize("d", [8, 7, 16])
def test_matches_paper_formula(d):
    x = np.zeros((2, 8, d), "float32")
    encoding = lc.to_numpy(SinusoidalPositionEncoding()(x))
    np.testing.assert_allclose(encoding[0], numpy_table(8, d), atol=1e-5)
    np.testing.assert_allclose(encoding[1], encoding[0])


def test_start_index_and_custom_wavelength():
    x = np.zeros((1, 3, 6), "float32")
    layer = SinusoidalPositionEncoding(max_wavelength=100.0)
    encoding = lc.to_numpy(layer(x, start_index=5))
    np.testing.assert_allclose(encoding[0], numpy_table(8, 6, base=100.0)[5:], atol=1e-5)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="max_wavelength=0"):
        SinusoidalPositionEncoding(max_wavelength=0)
