"""The sentiment app's typed config."""

import dataclasses
from typing import ClassVar, Literal

from apps.core.config import OPTIMIZER_CHOICES, AppConfig, ConfigError, PredictInputs

MODELS = ("transformer", "recurrent")
RNN_CELLS = ("gru", "lstm")
BAG_WEIGHTINGS = ("nb", "tfidf")


@dataclasses.dataclass
class SentimentConfig(AppConfig):
    """Sentiment settings; shared fields are documented on `AppConfig`.

    Attributes:
        model: `transformer` (token + position embedding, encoder blocks from
            `layers`, masked mean+max pooling) or `recurrent` (bidirectional
            GRU/LSTM with additive attention pooling); either is paired with the
            n-gram bag unless `bag_vocabulary_size` is 0.
        vocabulary_size: word vocabulary of the adapted `TextVectorization`
            (padding and out-of-vocabulary ids included).
        bigram_vocabulary_size: vocabulary of word pairs; each position adds the
            embedding of the pair starting there. 0 turns bigrams off.
        bigram_embedding_dim: width of the bigram table, projected up to
            `embedding_dim` (a narrow table keeps a large pair vocabulary cheap).
        bag_vocabulary_size: vocabulary of n-grams (words, pairs, ... up to `bag_ngrams`)
            read as a bag from the whole text (its first `text.MAX_TEXT_CHARACTERS` = 20,000
            characters, not truncated to `sequence_length`) by a linear model over weighted,
            L2-normalised features (`bag_weighting`); each member (bag, network) is trained on its own loss and
            their logits are weighted by a logistic regression fitted on the validation
            split after training. 0 turns the bag off.
        bag_ngrams: longest n-gram in the bag (1: words only, 2: and pairs, 3: and triples).
        bag_weighting: `nb`: binary features weighted by the Naive-Bayes log-count ratio
            of the training texts (NBSVM, Wang & Manning 2012); `tfidf`: sublinear counts
            weighted by idf.
        bag_learning_rate_multiplier: how much faster the bag's n-gram weights learn
            than the network (a sparse linear model needs far larger steps).
        bag_max_terms: distinct n-grams kept per text for the bag (a text with more
            keeps those most frequent in the training vocabulary).
        sequence_length: tokens kept per text; longer texts are truncated.
        embedding_dim: width of the token embeddings and the encoder.
        num_blocks: transformer encoder blocks.
        num_heads: attention heads per block.
        intermediate_dim: hidden size of each block's feed-forward network.
        pool_size: neighbouring tokens averaged into one attention position
            (1: attention over every token).
        dropout: dropout on the embeddings, inside the blocks and before the
            classifier.
        rnn_cell: `gru` or `lstm` for the recurrent model.
        rnn_units: units per direction of the recurrent model.
        label_smoothing: softens the 0/1 targets of the network (the n-gram bag member
            always learns from the hard ones).
        test_fraction: share of a single labelled file held out as test split
            (sources with their own test split ignore it).
    """

    data: str = "tfds:imdb_reviews"
    model: Literal[MODELS] = "transformer"
    epochs: int = 2
    batch_size: int = 64
    learning_rate: float = 2e-3
    optimizer: Literal[OPTIMIZER_CHOICES] = "adamw"
    vocabulary_size: int = 30_000
    bigram_vocabulary_size: int = 200_000
    bigram_embedding_dim: int = 16
    bag_vocabulary_size: int = 400_000
    bag_ngrams: int = 3
    bag_weighting: Literal[BAG_WEIGHTINGS] = "nb"
    bag_learning_rate_multiplier: float = 30.0
    bag_max_terms: int = 1024
    sequence_length: int = 400
    embedding_dim: int = 64
    num_blocks: int = 1
    num_heads: int = 4
    intermediate_dim: int = 128
    pool_size: int = 4
    dropout: float = 0.25
    rnn_cell: Literal[RNN_CELLS] = "gru"
    rnn_units: int = 64
    warmup_epochs: float = 0.1
    weight_decay: float = 1e-4
    label_smoothing: float = 0.0
    validation_fraction: float = 0.1
    test_fraction: float = 0.2

    UNSUPPORTED_FIELDS: ClassVar[dict] = {
        "field_metrics_every": "the sentiment app computes no whole-split metrics; remove it.",
        "field_metrics_examples": "the sentiment app computes no whole-split metrics; remove it.",
    }
    # `kapps sentiment predict` (apps.cli): what an INPUT is; `SentimentApp.request_from_cli` follows it.
    REVIEW_FILE_SUFFIXES: ClassVar[tuple] = (".txt", ".text", ".md", ".csv", ".tsv", ".json", ".jsonl", ".html", ".htm")
    PREDICT_INPUTS: ClassVar[PredictInputs] = PredictInputs(
        "a review: the path of an existing file (UTF-8 text, the whole file is one review) or the review's "
        "text itself. A single word ending in " + ", ".join(REVIEW_FILE_SUFFIXES) + " is taken as a file "
        "name: when no such file exists, that is an error, not a one-word review."
    )

    def validate(self):
        super().validate()  # `Literal` fields (model, rnn_cell) are checked there
        positive = (
            "epochs",
            "batch_size",
            "vocabulary_size",
            "sequence_length",
            "embedding_dim",
            "bigram_embedding_dim",
            "num_blocks",
            "num_heads",
            "intermediate_dim",
            "pool_size",
            "rnn_units",
        )
        bad = [name for name in positive if getattr(self, name) < 1]
        if bad:
            raise ConfigError(f"{', '.join(bad)} must be positive.")
        if self.vocabulary_size < 3:
            raise ConfigError("vocabulary_size must leave room for padding, [UNK] and a word.")
        if self.bigram_vocabulary_size < 0 or self.bag_vocabulary_size < 0:
            raise ConfigError("bigram_vocabulary_size and bag_vocabulary_size must be 0 (off) or positive.")
        if self.bag_max_terms < 1 or self.bag_learning_rate_multiplier <= 0 or self.bag_ngrams < 1:
            raise ConfigError("bag_max_terms, bag_ngrams and bag_learning_rate_multiplier must be positive.")
        if self.embedding_dim % self.num_heads:
            raise ConfigError(
                f"embedding_dim ({self.embedding_dim}) must be divisible by num_heads ({self.num_heads})."
            )
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}.")
        if not 0 < self.test_fraction < 1:
            raise ConfigError(f"test_fraction must be in (0, 1), got {self.test_fraction}.")
        return self

    @property
    def uses_bigrams(self):
        return self.bigram_vocabulary_size > 0

    @property
    def uses_bag(self):
        return self.bag_vocabulary_size > 0
