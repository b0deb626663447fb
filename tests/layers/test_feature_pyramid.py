import keras
import numpy as np
import pytest

from layers import FeaturePyramid
from tests.layers import layer_checks as lc


@pytest.mark.multibackend
class TestStandard(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=FeaturePyramid,
        init_kwargs={"filters": 4, "extra_levels": 1},
        inputs=[lc.InputSpec((2, 8, 8, 3)), lc.InputSpec((2, 4, 4, 5)), lc.InputSpec((2, 2, 2, 6))],
        expected_output_shape=[(2, 8, 8, 4), (2, 4, 4, 4), (2, 2, 2, 4), (2, 1, 1, 4)],
        call_style="list",
    )


@pytest.mark.multibackend
def test_coarse_features_reach_the_finest_level_top_down_only():
    """A change in the coarsest input changes every level; one in the finest input leaves
    the coarser levels as they were (information flows top-down)."""
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=shape).astype("float32") for shape in ((1, 8, 8, 2), (1, 4, 4, 2), (1, 2, 2, 2))]
    layer = FeaturePyramid(3)
    base = [lc.to_numpy(level) for level in layer(inputs)]
    coarse = [*inputs[:2], inputs[2] + 1.0]
    changed = [lc.to_numpy(level) for level in layer(coarse)]
    assert all(not np.allclose(before, after) for before, after in zip(base, changed))
    fine = [inputs[0] + 1.0, *inputs[1:]]
    changed = [lc.to_numpy(level) for level in layer(fine)]
    assert not np.allclose(base[0], changed[0])
    np.testing.assert_allclose(base[1], changed[1])
    np.testing.assert_allclose(base[2], changed[2])


def test_odd_sizes_and_extra_levels():
    inputs = [keras.Input((13, 13, 4)), keras.Input((7, 7, 8)), keras.Input((4, 4, 8))]
    layer = FeaturePyramid(6, extra_levels=2)
    levels = layer(inputs)
    assert [tuple(level.shape) for level in levels] == [
        (None, 13, 13, 6),
        (None, 7, 7, 6),
        (None, 4, 4, 6),
        (None, 2, 2, 6),
        (None, 1, 1, 6),
    ]
    assert [tuple(shape) for shape in layer.compute_output_shape([tuple(x.shape) for x in inputs])] == [
        tuple(level.shape) for level in levels
    ]
    model = keras.Model(inputs, levels)
    outputs = model(
        [np.ones((2, 13, 13, 4), "float32"), np.ones((2, 7, 7, 8), "float32"), np.ones((2, 4, 4, 8), "float32")]
    )
    assert tuple(outputs[-1].shape) == (2, 1, 1, 6)


@pytest.mark.multibackend
@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"filters": 0}, "filters=0"),
        ({"filters": 4, "extra_levels": -1}, "extra_levels=-1"),
        ({"filters": 4, "extra_levels": 1.5}, "extra_levels=1.5"),
    ],
)
def test_rejects_bad_arguments(kwargs, fragment):
    lc.check_invalid_argument(FeaturePyramid, kwargs, fragment)


def test_rejects_a_single_tensor():
    with pytest.raises(ValueError, match="list of feature maps"):
        FeaturePyramid(4)(np.zeros((2, 5, 5, 3), "float32"))
