import keras
import numpy as np
import pytest

from layers import BahdanauAttention
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandard(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=BahdanauAttention,
        init_kwargs={"units": 4, "dropout": 0.1, "seed": 0},
        inputs=[
            lc.InputSpec((2, 3, 8), padded_steps=1),
            lc.InputSpec((2, 5, 6), padded_steps=2),
        ],
        call_style="list",
        expected_output_shape=(2, 3, 6),
        mask_source="masking",
    )


class TestStandardSingleQuery(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=BahdanauAttention,
        init_kwargs={"units": 4},
        inputs=[lc.InputSpec((2, 8)), lc.InputSpec((2, 5, 6))],
        call_style="list",
        expected_output_shape=(2, 6),
    )


def numpy_bahdanau(layer, query, value, value_mask):
    w_q = lc.to_numpy(layer.query_dense.kernel)
    w_k, b = [lc.to_numpy(w) for w in layer.key_dense.weights]
    v = lc.to_numpy(layer.score_dense.kernel)[:, 0]
    hidden = np.tanh((query @ w_q)[:, :, None, :] + (value @ w_k + b)[:, None, :, :])
    scores = hidden @ v  # (batch, Tq, Tv)
    scores = np.where(value_mask[:, None, :], scores, -np.inf)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    return weights @ value, weights


@pytest.mark.parametrize("rank2_query", [False, True])
def test_matches_numpy_formula(rank2_query):
    rng = np.random.default_rng(0)
    query = rng.normal(size=(2, 3, 8)).astype("float32")
    value = rng.normal(size=(2, 5, 6)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    layer = BahdanauAttention(units=4, bias_initializer=keras.initializers.RandomNormal(seed=1))
    q = query[:, 0] if rank2_query else query
    context, weights = layer([q, value], mask=[None, mask], return_attention_scores=True)
    ref_context, ref_weights = numpy_bahdanau(layer, query, value, mask)
    if rank2_query:
        ref_context, ref_weights = ref_context[:, 0], ref_weights[:, 0]
    lc.assert_close(context, ref_context)
    lc.assert_close(weights, ref_weights)


def test_symbolic_scores_shape():
    q, v = keras.Input((3, 8)), keras.Input((5, 6))
    context, weights = BahdanauAttention(4)([q, v], return_attention_scores=True)
    assert tuple(context.shape) == (None, 3, 6)
    assert tuple(weights.shape) == (None, 3, 5)


def test_rejects_bad_inputs():
    with pytest.raises(ValueError, match="units=0"):
        BahdanauAttention(units=0)
    with pytest.raises(ValueError, match="dropout=-0.1"):
        BahdanauAttention(units=2, dropout=-0.1)
    with pytest.raises(ValueError, match="expects"):
        BahdanauAttention(units=2)(np.ones((2, 3, 4), "float32"))
