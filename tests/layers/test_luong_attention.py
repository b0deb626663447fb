import numpy as np
import pytest

from layers import LuongAttention
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandardGeneral(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=LuongAttention,
        init_kwargs={"score": "general", "dropout": 0.1, "seed": 0},
        inputs=[
            lc.InputSpec((2, 3, 8), padded_steps=1),
            lc.InputSpec((2, 5, 6), padded_steps=2),
        ],
        call_style="list",
        expected_output_shape=(2, 3, 6),
        mask_source="masking",
    )


class TestStandardScaled(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=LuongAttention,
        init_kwargs={"score": "scaled"},
        inputs=[
            lc.InputSpec((2, 3, 6), padded_steps=1),
            lc.InputSpec((2, 5, 6), padded_steps=2),
        ],
        call_style="list",
        expected_output_shape=(2, 3, 6),
        mask_source="masking",
        has_weights=False,
    )


def numpy_luong(score, query, key, value, value_mask, kernel=None):
    if score == "general":
        query = query @ kernel
    scores = query @ key.transpose(0, 2, 1)
    if score == "scaled":
        scores = scores / np.sqrt(key.shape[-1])
    scores = np.where(value_mask[:, None, :], scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return weights @ value, weights


@pytest.mark.parametrize("score", ["dot", "general", "scaled"])
def test_matches_numpy_formula(score):
    rng = np.random.default_rng(0)
    query = rng.normal(size=(2, 3, 6)).astype("float32")
    key = rng.normal(size=(2, 5, 6)).astype("float32")
    value = rng.normal(size=(2, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], bool)
    layer = LuongAttention(score=score)
    context, weights = layer([query, value, key], mask=[None, mask], return_attention_scores=True)
    kernel = lc.to_numpy(layer.query_dense.kernel) if score == "general" else None
    ref_context, ref_weights = numpy_luong(score, query, key, value, mask, kernel)
    lc.assert_close(context, ref_context)
    lc.assert_close(weights, ref_weights)


def test_rank2_query():
    query = np.ones((2, 6), "float32")
    value = np.random.default_rng(0).normal(size=(2, 5, 6)).astype("float32")
    context, weights = LuongAttention()([query, value], return_attention_scores=True)
    assert tuple(context.shape) == (2, 6)
    assert tuple(weights.shape) == (2, 5)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="score='cosine'"):
        LuongAttention(score="cosine")
    with pytest.raises(ValueError, match="same feature size"):
        LuongAttention(score="dot")([np.ones((2, 3, 4), "float32"), np.ones((2, 5, 6), "float32")])
