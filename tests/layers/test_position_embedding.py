import numpy as np
import pytest

from layers import PositionEmbedding
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandard(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=PositionEmbedding,
        init_kwargs={"sequence_length": 6},
        inputs=[lc.InputSpec((2, 6, 8), padded_steps=2)],
        expected_output_shape=(2, 6, 8),
        mask_source="masking",
    )


def test_returns_table_rows_for_shorter_inputs():
    layer = PositionEmbedding(sequence_length=10)
    layer.build((None, None, 4))
    out = lc.to_numpy(layer(np.zeros((2, 3, 4), "float32")))
    table = lc.to_numpy(layer.embeddings)
    np.testing.assert_allclose(out[0], table[:3])
    np.testing.assert_allclose(out[1], table[:3])
    shifted = lc.to_numpy(layer(np.zeros((1, 3, 4), "float32"), start_index=2))
    np.testing.assert_allclose(shifted[0], table[2:5])


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="sequence_length=0"):
        PositionEmbedding(sequence_length=0)
    with pytest.raises(ValueError, match="exceeds"):
        PositionEmbedding(sequence_length=4)(np.zeros((2, 6, 3), "float32"))
