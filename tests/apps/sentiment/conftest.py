import pytest

from apps.sentiment.app import SentimentApp
from apps.sentiment.config import SentimentConfig


def tiny_config(**changes):
    """A config that trains in seconds: 160 generated reviews, 24 tokens, width 16, one epoch."""
    base = SentimentConfig(data="builtin", epochs=1, batch_size=32, max_examples=160,
                           vocabulary_size=120, bigram_vocabulary_size=300, bag_vocabulary_size=400, sequence_length=24,
                           embedding_dim=16, num_heads=2, intermediate_dim=16, pool_size=2,
                           rnn_units=8, validation_fraction=0.25, seed=5)
    return base.replace(**changes)


@pytest.fixture
def app():
    return SentimentApp()


@pytest.fixture(scope="package")
def trained_run(tmp_path_factory):
    """One tiny transformer trained through the workflow, shared by the package's tests."""
    from apps.core import workflow

    run_dir = tmp_path_factory.mktemp("sentiment_run")
    run, metrics = workflow.train(SentimentApp(), tiny_config(), run_dir, verbose=False)
    return run, metrics
