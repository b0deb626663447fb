import keras
import numpy as np
import pytest

from layers import TokenAndPositionEmbedding
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandard(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=TokenAndPositionEmbedding,
        init_kwargs={
            "vocabulary_size": 20,
            "sequence_length": 6,
            "embedding_dim": 8,
        },
        inputs=[lc.InputSpec((2, 6), dtype="int32", int_high=20, padded_steps=2)],
        expected_output_shape=(2, 6, 8),
        mask_source="own",
    )


def test_is_token_plus_position():
    layer = TokenAndPositionEmbedding(20, 6, 8)
    ids = np.array([[3, 4, 5, 0], [1, 2, 0, 0]], "int32")
    out = lc.to_numpy(layer(ids))
    tokens = lc.to_numpy(layer.token_embedding.embeddings)
    positions = lc.to_numpy(layer.position_embedding.embeddings)
    np.testing.assert_allclose(out, tokens[ids] + positions[None, :4], atol=1e-6)


def test_mask_zero_false_produces_no_mask():
    layer = TokenAndPositionEmbedding(20, 6, 8, mask_zero=False)
    ids = np.array([[3, 0, 0]], "int32")
    assert layer.compute_mask(ids) is None
    inputs = keras.Input((3,), dtype="int32")
    model = keras.Model(inputs, lc.MaskToTensor()(layer(inputs)))
    np.testing.assert_array_equal(lc.to_numpy(model(ids)), [[1, 1, 1]])


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="vocabulary_size=0"):
        TokenAndPositionEmbedding(0, 6, 8)
    with pytest.raises(ValueError, match="embedding_dim=2.5"):
        TokenAndPositionEmbedding(10, 6, 2.5)
