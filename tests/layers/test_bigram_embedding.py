import numpy as np
import pytest

from layers import BigramEmbedding
from tests.layers import layer_checks as lc

pytestmark = pytest.mark.multibackend


class TestStandard(lc.StandardLayerChecks):
    spec = lc.LayerSpec(
        cls=BigramEmbedding,
        init_kwargs={"vocabulary_size": 20, "embedding_dim": 8, "table_dim": 4},
        inputs=[
            lc.InputSpec((2, 6, 8), padded_steps=2),
            lc.InputSpec((2, 6), dtype="int32", int_high=20),
        ],
        call_style="args",
        expected_output_shape=(2, 6, 8),
        mask_source="masking",
    )


@pytest.mark.parametrize("table_dim", [None, 3])
def test_adds_the_projected_pair_embedding(table_dim):
    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(2, 4, 6)).astype("float32")
    ids = np.array([[3, 7, 7, 0], [1, 2, 0, 0]], "int32")
    layer = BigramEmbedding(10, embedding_dim=6, table_dim=table_dim)
    out = lc.to_numpy(layer(tokens, ids))
    pairs = lc.to_numpy(layer.embedding.embeddings)[ids]
    if table_dim is None:
        assert layer.projection is None and layer.table_dim == 6
    else:
        pairs = pairs @ lc.to_numpy(layer.projection.kernel)
    np.testing.assert_allclose(out, tokens + pairs, rtol=1e-5, atol=1e-6)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="table_dim=0"):
        BigramEmbedding(10, 6, table_dim=0)
    with pytest.raises(ValueError, match="embedding_dim=6"):
        BigramEmbedding(10, 6)(np.zeros((1, 3, 5), "float32"), np.ones((1, 3), "int32"))
