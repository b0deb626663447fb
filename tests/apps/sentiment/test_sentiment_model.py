"""Sentiment models: masking (padding never changes a prediction), layers, saving."""

import keras
import numpy as np
import pytest

from apps.sentiment.blocks import LimitTokenIds, MaskedChunkPooling, MaskedMeanMaxPooling
from apps.sentiment.config import SentimentConfig
from apps.sentiment.model import SentimentClassifier, build_classifier, build_model
from apps.sentiment.text import BIGRAM_IDS, TOKEN_IDS, adapt_vectorizers, make_vectorizers
from tests.apps.sentiment.conftest import tiny_config

pytestmark = pytest.mark.multibackend

SHORT = [5, 9, 17, 3, 40, 8, 2]
LONG = list(range(2, 26))


def _ids(rows, length):
    """Right-padded id matrices for token and bigram inputs."""
    tokens = np.zeros((len(rows), length), dtype="int32")
    for row, ids in enumerate(rows):
        tokens[row, : len(ids)] = ids
    bigrams = np.where(tokens > 0, (tokens * 7) % 290 + 2, 0).astype("int32")
    return {TOKEN_IDS: tokens, BIGRAM_IDS: bigrams}


@pytest.mark.parametrize("model_name,pool_size", [("transformer", 1), ("transformer", 3), ("recurrent", 3)])
def test_padding_does_not_change_a_prediction(model_name, pool_size):
    classifier = build_classifier(tiny_config(model=model_name, pool_size=pool_size, dropout=0.0))
    alone = classifier.predict(_ids([SHORT], len(SHORT)), verbose=0)
    padded = classifier.predict(_ids([SHORT], 24), verbose=0)
    beside_a_long_review = classifier.predict(_ids([SHORT, LONG], 24), verbose=0)
    np.testing.assert_allclose(padded[0], alone[0], atol=1e-5)
    np.testing.assert_allclose(beside_a_long_review[0], alone[0], atol=1e-5)


@pytest.mark.parametrize("model_name", ["transformer", "recurrent"])
def test_an_empty_text_gets_a_finite_probability(model_name):
    classifier = build_classifier(tiny_config(model=model_name))
    probability = classifier.predict(_ids([[]], 24), verbose=0)
    assert probability.shape == (1, 1) and np.isfinite(probability).all()


def test_without_bigrams_the_model_takes_token_ids_only():
    classifier = build_classifier(tiny_config(bigram_vocabulary_size=0))
    assert [tensor.name for tensor in classifier.inputs] == [TOKEN_IDS]
    assert classifier.predict({TOKEN_IDS: _ids([SHORT], 24)[TOKEN_IDS]}, verbose=0).shape == (1, 1)


def test_limit_token_ids_truncates_and_maps_rare_ids_to_unknown():
    limited = LimitTokenIds(vocabulary_size=10, sequence_length=4)(np.array([[3, 12, 9, 0, 7, 8]]))
    assert keras.ops.convert_to_numpy(limited).tolist() == [[3, 1, 9, 0]]


def test_chunk_pooling_averages_valid_positions_only():
    values = np.arange(1, 6, dtype="float32").reshape(1, 5, 1)
    mask = np.array([[True, True, True, False, False]])
    layer = MaskedChunkPooling(2)
    pooled = keras.ops.convert_to_numpy(layer(values, mask=mask))
    assert pooled.reshape(-1).tolist() == [1.5, 3.0, 0.0]
    assert keras.ops.convert_to_numpy(layer.compute_mask(values, mask)).tolist() == [[True, True, False]]


def test_mean_max_pooling_ignores_padding():
    values = np.array([[[1.0], [3.0], [100.0]]], dtype="float32")
    pooled = MaskedMeanMaxPooling()(values, mask=np.array([[True, True, False]]))
    assert keras.ops.convert_to_numpy(pooled).tolist() == [[2.0, 3.0]]


def _adapted_vectorizers(config):
    texts = ["a fine film", "a dull film", "not a fine plot", "fine acting"] * 3
    return adapt_vectorizers(make_vectorizers(config), texts)


def test_saved_model_keeps_its_vocabularies(tmp_path):
    config = tiny_config()
    model = build_model(config, _adapted_vectorizers(config), train_examples=12)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, SentimentClassifier)
    assert loaded.token_vectorizer.get_vocabulary() == model.token_vectorizer.get_vocabulary()
    assert loaded.bigram_vectorizer.get_vocabulary() == model.bigram_vectorizer.get_vocabulary()
    texts = np.array(["a fine film", "a dull plot indeed", ""])
    np.testing.assert_allclose(loaded.predict(loaded.vectorize(texts), verbose=0),
                               model.predict(model.vectorize(texts), verbose=0), atol=1e-6)


@pytest.mark.parametrize("changes,message", [
    ({"model": "cnn"}, "model must be"),
    ({"embedding_dim": 30, "num_heads": 4}, "divisible"),
    ({"rnn_cell": "elman"}, "rnn_cell"),
    ({"sequence_length": 0}, "positive"),
])
def test_invalid_configs_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        SentimentConfig(**changes)
