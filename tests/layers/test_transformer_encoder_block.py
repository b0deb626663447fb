import keras
import numpy as np
import pytest

from layers import TokenAndPositionEmbedding, TransformerEncoderBlock
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandardPostNorm(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=TransformerEncoderBlock,
        init_kwargs={"num_heads": 2, "intermediate_dim": 16},
        inputs=[lc.InputSpec((2, 6, 8), padded_steps=2)],
        expected_output_shape=(2, 6, 8),
        mask_source="masking",
    )


class TestStandardPreNormDropout(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=TransformerEncoderBlock,
        init_kwargs={
            "num_heads": 2,
            "intermediate_dim": 16,
            "dropout": 0.1,
            "norm_first": True,
            "key_dim": 3,
            "activation": "gelu",
            "seed": 0,
        },
        inputs=[lc.InputSpec((2, 6, 8), padded_steps=2)],
        expected_output_shape=(2, 6, 8),
        mask_source="masking",
    )


def zero_branch_outputs(block):
    for layer in (block.self_attention.output_dense, block.feedforward_output):
        for w in layer.weights:
            w.assign(np.zeros(w.shape, "float32"))


def numpy_layer_norm(x, eps=1e-5):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps)


@pytest.mark.parametrize("norm_first", [True, False])
def test_zeroed_branches(norm_first):
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    block = TransformerEncoderBlock(2, 16, norm_first=norm_first)
    block(x)
    zero_branch_outputs(block)
    expected = x if norm_first else numpy_layer_norm(numpy_layer_norm(x))
    lc.assert_close(block(x), expected, atol=1e-4)


def test_padding_does_not_change_valid_outputs():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 8)).astype("float32")
    mask = np.ones((2, 6), bool)
    mask[1, 4:] = False
    noisy = x.copy()
    noisy[1, 4:] = rng.normal(size=(2, 8)) * 10
    block = TransformerEncoderBlock(2, 16)
    a = lc.to_numpy(block(x, mask=mask))
    b = lc.to_numpy(block(noisy, padding_mask=mask))
    np.testing.assert_allclose(a[mask], b[mask], atol=1e-5)


def test_scores_and_symbolic_scores():
    block = TransformerEncoderBlock(2, 16)
    x = np.random.default_rng(0).normal(size=(2, 6, 8)).astype("float32")
    out, scores = block(x, return_attention_scores=True)
    assert tuple(scores.shape) == (2, 2, 6, 6)
    lc.assert_close(out, block(x))
    sym_out, sym_scores = block(keras.Input((6, 8)), return_attention_scores=True)
    assert tuple(sym_scores.shape) == (None, 2, 6, 6)


def test_sentiment_pipeline_masked_mean_pooling():
    ids = keras.Input((None,), dtype="int32")
    x = TokenAndPositionEmbedding(20, 8, 8)(ids)
    x = TransformerEncoderBlock(2, 16)(x)
    pooled = keras.layers.GlobalAveragePooling1D()(x)  # uses the mask
    model = keras.Model(ids, keras.layers.Dense(1)(pooled))
    short = np.array([[4, 5, 6, 0], [7, 8, 0, 0]], "int32")
    long = np.array([[4, 5, 6, 0, 0, 0], [7, 8, 0, 0, 0, 0]], "int32")
    # Only the amount of padding differs, so the predictions must not.
    lc.assert_close(model(short), model(long), atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"num_heads": 0, "intermediate_dim": 4}, "num_heads=0"),
        ({"num_heads": 2, "intermediate_dim": -4}, "intermediate_dim=-4"),
        ({"num_heads": 2, "intermediate_dim": 4, "dropout": 2.0}, "dropout=2.0"),
    ],
)
def test_rejects_bad_arguments(kwargs, fragment):
    lc.check_invalid_argument(TransformerEncoderBlock, kwargs, fragment)


def test_rejects_indivisible_heads():
    with pytest.raises(ValueError, match="divisible"):
        TransformerEncoderBlock(3, 8)(np.zeros((2, 4, 8), "float32"))
