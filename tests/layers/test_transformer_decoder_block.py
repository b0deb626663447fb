import keras
import numpy as np
import pytest

from layers import TransformerDecoderBlock
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandardEncoderDecoder(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=TransformerDecoderBlock,
        init_kwargs={"num_heads": 2, "intermediate_dim": 16},
        inputs=[
            lc.InputSpec((2, 5, 8), padded_steps=1),
            lc.InputSpec((2, 6, 8), padded_steps=2),
        ],
        call_style="args",
        expected_output_shape=(2, 5, 8),
        mask_source="masking",
    )


class TestStandardDecoderOnly(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=TransformerDecoderBlock,
        init_kwargs={
            "num_heads": 2,
            "intermediate_dim": 16,
            "norm_first": True,
            "dropout": 0.1,
            "seed": 0,
        },
        inputs=[lc.InputSpec((2, 5, 8), padded_steps=1)],
        expected_output_shape=(2, 5, 8),
        mask_source="masking",
    )


def inputs():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(2, 5, 8)).astype("float32"), rng.normal(size=(2, 6, 8)).astype("float32"))


def test_self_attention_is_causal():
    decoder, encoder = inputs()
    block = TransformerDecoderBlock(2, 16)
    changed = decoder.copy()
    changed[:, 3:] += 5.0
    a = lc.to_numpy(block(decoder, encoder))
    b = lc.to_numpy(block(changed, encoder))
    np.testing.assert_allclose(a[:, :3], b[:, :3], atol=1e-5)
    assert not np.allclose(a[:, 3:], b[:, 3:])


def test_encoder_padding_is_ignored():
    decoder, encoder = inputs()
    mask = np.ones((2, 6), bool)
    mask[1, 4:] = False
    noisy = encoder.copy()
    noisy[1, 4:] = 100.0
    block = TransformerDecoderBlock(2, 16)
    a = block(decoder, encoder, encoder_padding_mask=mask)
    b = block(decoder, noisy, encoder_padding_mask=mask)
    lc.assert_close(a, b, atol=1e-5)


def test_returns_both_attention_scores():
    decoder, encoder = inputs()
    block = TransformerDecoderBlock(2, 16)
    out, self_scores, cross_scores = block(decoder, encoder, return_attention_scores=True)
    assert tuple(self_scores.shape) == (2, 2, 5, 5)
    assert tuple(cross_scores.shape) == (2, 2, 5, 6)
    assert np.all(lc.to_numpy(self_scores)[:, :, 0, 1:] == 0.0)
    lc.assert_close(out, block(decoder, encoder))
    sym = block(keras.Input((5, 8)), keras.Input((6, 8)), return_attention_scores=True)
    assert [tuple(t.shape) for t in sym] == [(None, 5, 8), (None, 2, 5, 5), (None, 2, 5, 6)]


def test_must_be_called_consistently():
    decoder, encoder = inputs()
    block = TransformerDecoderBlock(2, 16)
    block(decoder)
    with pytest.raises(ValueError, match="without an encoder"):
        block(decoder, encoder)


def test_rejects_bad_arguments():
    lc.check_invalid_argument(
        TransformerDecoderBlock,
        {"num_heads": 2, "intermediate_dim": 8, "layer_norm_epsilon": 0},
        "layer_norm_epsilon=0",
    )
