import numpy as np
import pytest

from layers import PiecewiseLinearEncoding, quantile_bin_edges
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandard(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=PiecewiseLinearEncoding,
        init_kwargs={"bin_edges": [-1.0, 0.0, 0.5, 2.0]},
        inputs=[lc.InputSpec((2, 8, 1))],
        expected_output_shape=(2, 8, 3),
        has_weights=False,
    )


class TestStandardMasked(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=PiecewiseLinearEncoding,
        init_kwargs={"bin_edges": [-1.0, 1.0]},
        inputs=[lc.InputSpec((2, 5, 1), padded_steps=2)],
        expected_output_shape=(2, 5, 1),
        mask_source="masking",
        has_weights=False,
    )


def reference_encoding(x, edges):
    """Gorishniy et al. (2022), eq. 2, written out per bin."""
    edges = np.asarray(edges, "float64")
    out = np.zeros((len(x), len(edges) - 1))
    for row, value in enumerate(x):
        for t in range(len(edges) - 1):
            progress = (value - edges[t]) / (edges[t + 1] - edges[t])
            if t > 0:
                progress = max(progress, 0.0)
            if t < len(edges) - 2:
                progress = min(progress, 1.0)
            out[row, t] = progress
    return out


def test_matches_the_paper_inside_and_outside_the_edges():
    edges = [0.0, 1.0, 3.0, 10.0]
    x = np.array([-2.0, 0.0, 0.25, 1.0, 2.0, 3.0, 9.0, 15.0], "float32")
    encoding = lc.to_numpy(PiecewiseLinearEncoding(edges)(x[:, None]))
    np.testing.assert_allclose(encoding, reference_encoding(x, edges), atol=1e-6)


def test_linear_function_of_encoding_is_the_spline_through_the_knots():
    edges = [0.0, 1.0, 3.0]
    knot_values = np.array([2.0, -1.0, 3.0])  # spline values at the edges
    slopes = np.diff(knot_values)  # weight of each bin = rise over that bin
    x = np.linspace(0.0, 3.0, 13, dtype="float32")
    encoding = lc.to_numpy(PiecewiseLinearEncoding(edges)(x[:, None]))
    np.testing.assert_allclose(knot_values[0] + encoding @ slopes, np.interp(x, edges, knot_values), atol=1e-5)


def test_quantile_bin_edges_merge_repeats_and_ignore_nan():
    values = np.array([1, 1, 1, 1, 2, 2, 3, np.nan, 4, 5], "float64")
    edges = quantile_bin_edges(values, 4)
    assert edges == sorted(set(edges)) and edges[0] == 1.0 and edges[-1] == 5.0
    assert len(edges) <= 5
    assert quantile_bin_edges(np.array([7.0, 7.0, np.nan]), 4) == []
    assert quantile_bin_edges(np.array([np.nan]), 4) == []


@pytest.mark.parametrize("edges", [[1.0], [0.0, 0.0], [2.0, 1.0], [0.0, float("inf")]])
def test_rejects_bad_edges(edges):
    lc.check_invalid_argument(PiecewiseLinearEncoding, {"bin_edges": edges}, "bin_edges")


def test_rejects_more_than_one_feature():
    with pytest.raises(ValueError, match=r"\(\.\.\., 1\)"):
        PiecewiseLinearEncoding([0.0, 1.0])(np.zeros((2, 3), "float32"))
