import keras
import numpy as np
import pytest

from layers import MultiHeadSelfAttention
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend

SPEC = lc.LayerSpec(
    cls=MultiHeadSelfAttention,
    init_kwargs={"num_heads": 2, "key_dim": 4},
    inputs=[lc.InputSpec((2, 6, 8), padded_steps=2)],
    expected_output_shape=(2, 6, 8),
    mask_source="masking",
)


class TestStandard(lc.StandardLayerChecks):
    spec = SPEC


class TestStandardCausalDropout(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=MultiHeadSelfAttention,
        init_kwargs={
            "num_heads": 2,
            "key_dim": 4,
            "value_dim": 3,
            "output_dim": 5,
            "dropout": 0.1,
            "use_causal_mask": True,
            "seed": 1,
        },
        inputs=[lc.InputSpec((2, 6, 8), padded_steps=2)],
        expected_output_shape=(2, 6, 5),
        mask_source="masking",
    )


def copy_weights_from_keras_mha(layer, mha):
    """Copies `keras.layers.MultiHeadAttention` weights into `layer`."""
    features = layer.qkv_dense.kernel.shape[0]
    q_k, q_b = [lc.to_numpy(w) for w in mha.query_dense.weights]
    k_k, k_b = [lc.to_numpy(w) for w in mha.key_dense.weights]
    v_k, v_b = [lc.to_numpy(w) for w in mha.value_dense.weights]
    o_k, o_b = [lc.to_numpy(w) for w in mha.output_dense.weights]
    kernel = np.concatenate([w.reshape(features, -1) for w in (q_k, k_k, v_k)], axis=-1)
    bias = np.concatenate([b.reshape(-1) for b in (q_b, k_b, v_b)])
    layer.qkv_dense.set_weights([kernel, bias])
    layer.output_dense.set_weights([o_k.reshape(-1, o_k.shape[-1]), o_b])


def paired_layers(causal=False, **kwargs):
    keras.utils.set_random_seed(3)
    x = np.random.default_rng(0).normal(size=(2, 7, 12)).astype("float32")
    mha = keras.layers.MultiHeadAttention(num_heads=3, key_dim=4, **kwargs)
    mha(x, x)
    bias_init = keras.initializers.RandomNormal(seed=2)
    mha.query_dense.bias.assign(bias_init(mha.query_dense.bias.shape))
    mha.output_dense.bias.assign(bias_init(mha.output_dense.bias.shape))
    layer = MultiHeadSelfAttention(num_heads=3, key_dim=4, use_causal_mask=causal, **kwargs)
    layer(x)
    copy_weights_from_keras_mha(layer, mha)
    return layer, mha, x


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_matches_keras_multi_head_attention(fused, causal, masked):
    layer, mha, x = paired_layers(causal=causal)
    mask = np.ones((2, 7), bool)
    if masked:
        mask[1, 4:] = False
    ours = layer(
        x,
        mask=mask if masked else None,
        return_attention_scores=not fused,
    )
    ours = ours[0] if not fused else ours
    ref, ref_scores = mha(
        x,
        x,
        query_mask=mask if masked else None,
        value_mask=mask if masked else None,
        use_causal_mask=causal,
        return_attention_scores=True,
    )
    # Padded query rows are undefined in Keras (fully masked); compare the
    # valid positions only.
    ours, ref = lc.to_numpy(ours), lc.to_numpy(ref)
    np.testing.assert_allclose(ours[mask], ref[mask], atol=1e-5, rtol=1e-5)
    if not fused:
        _, scores = layer(x, mask=mask if masked else None, return_attention_scores=True)
        scores, ref_scores = lc.to_numpy(scores), lc.to_numpy(ref_scores)
        valid = np.broadcast_to(mask[:, None, :, None], scores.shape)
        np.testing.assert_allclose(scores[valid], ref_scores[valid], atol=1e-5, rtol=1e-5)


def test_scores_are_masked_probabilities():
    layer = MultiHeadSelfAttention(num_heads=2, key_dim=4, use_causal_mask=True)
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    _, scores = layer(x, mask=mask, return_attention_scores=True)
    scores = lc.to_numpy(scores)
    assert scores.shape == (2, 2, 5, 5)
    np.testing.assert_allclose(scores.sum(-1), 1.0, atol=1e-5)
    future = np.triu(np.ones((5, 5), bool), k=1)
    assert np.all(scores[:, :, future] == 0.0)
    assert np.all(scores[1, :, :, 3:] == 0.0)


def test_symbolic_call_returns_scores():
    layer = MultiHeadSelfAttention(num_heads=2, key_dim=4)
    inputs = keras.Input((6, 8))
    outputs, scores = layer(inputs, return_attention_scores=True)
    assert tuple(outputs.shape) == (None, 6, 8)
    assert tuple(scores.shape) == (None, 2, 6, 6)


def test_fused_and_explicit_paths_agree():
    x = np.random.default_rng(0).normal(size=(2, 6, 8)).astype("float32")
    mask = np.array([[1] * 6, [1] * 4 + [0] * 2], bool)
    fused = MultiHeadSelfAttention(2, 4, use_causal_mask=True)
    explicit = MultiHeadSelfAttention(2, 4, use_causal_mask=True, fused_attention=False)
    fused(x)
    explicit(x)
    explicit.set_weights(fused.get_weights())
    for m in (None, mask):
        lc.assert_close(fused(x, mask=m), explicit(x, mask=m))


def test_dropout_only_in_training():
    layer = MultiHeadSelfAttention(2, 4, dropout=0.5, seed=0)
    x = np.random.default_rng(0).normal(size=(2, 6, 8)).astype("float32")
    lc.assert_close(layer(x), layer(x, training=False))
    assert not np.allclose(lc.to_numpy(layer(x, training=True)), lc.to_numpy(layer(x)))


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"num_heads": 0, "key_dim": 4}, "num_heads=0"),
        ({"num_heads": 2, "key_dim": -1}, "key_dim=-1"),
        ({"num_heads": 2, "key_dim": 4, "dropout": 1.5}, "dropout=1.5"),
        ({"num_heads": 2, "key_dim": 4, "value_dim": 0}, "value_dim=0"),
    ],
)
def test_invalid_arguments(kwargs, fragment):
    lc.check_invalid_argument(MultiHeadSelfAttention, kwargs, fragment)


def test_undefined_feature_dimension_is_rejected():
    with pytest.raises(ValueError, match="last"):
        MultiHeadSelfAttention(2, 4).build((None, 5, None))
