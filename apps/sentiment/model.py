"""Sentiment models: a transformer encoder and a bidirectional RNN over token ids, and the
`SentimentClassifier` that keeps the adapted text vectorizers with them."""

import keras

from apps.core.optimizers import scheduled_optimizer
from apps.sentiment.blocks import (
    PACKAGE,
    BigramEmbedding,
    LimitTokenIds,
    MaskedChunkPooling,
    MaskedMeanMaxPooling,
)
from apps.sentiment.text import BIGRAM_IDS, TOKEN_IDS
from layers import BahdanauAttention, TokenAndPositionEmbedding, TransformerEncoderBlock

ENCODER_BLOCK_PREFIX = "encoder_block_"


# ----- shared pieces ---------------------------------------------------------------------
def id_inputs(config):
    """Integer inputs of any length (the vectorizers pad to `sequence_length`)."""
    inputs = {TOKEN_IDS: keras.Input((None,), dtype="int32", name=TOKEN_IDS)}
    if config.uses_bigrams:
        inputs[BIGRAM_IDS] = keras.Input((None,), dtype="int32", name=BIGRAM_IDS)
    return inputs


def limited_ids(inputs, config):
    """The inputs cut to `config.sequence_length` and its vocabulary sizes."""
    limited = {TOKEN_IDS: LimitTokenIds(config.vocabulary_size, config.sequence_length,
                                        name="limit_token_ids")(inputs[TOKEN_IDS])}
    if config.uses_bigrams:
        limited[BIGRAM_IDS] = LimitTokenIds(config.bigram_vocabulary_size, config.sequence_length,
                                            name="limit_bigram_ids")(inputs[BIGRAM_IDS])
    return limited


def add_bigrams(x, ids, config):
    if not config.uses_bigrams:
        return x
    return BigramEmbedding(config.bigram_vocabulary_size, config.embedding_dim,
                           table_dim=min(config.bigram_embedding_dim, config.embedding_dim),
                           name="bigram_embedding")(x, ids[BIGRAM_IDS])


def pooled_for_sequence_model(x, config):
    """Dropout, then averages of `pool_size` neighbouring tokens (padding excluded)."""
    x = keras.layers.Dropout(config.dropout, name="embedding_dropout")(x)
    if config.pool_size > 1:
        x = MaskedChunkPooling(config.pool_size, name="chunk_pooling")(x)
    return x


def classifier_head(features, config):
    x = keras.layers.Concatenate(name="features")(features)
    x = keras.layers.Dropout(config.dropout, name="head_dropout")(x)
    return keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="probability")(x)


# ----- architectures ---------------------------------------------------------------------
def build_transformer(config):
    """Token + position embedding (+ bigram embedding) → encoder blocks → masked pooling.

    The classifier sees the masked mean/max of the encoder output and of the
    embeddings themselves (a residual path around the encoder).
    """
    inputs = id_inputs(config)
    ids = limited_ids(inputs, config)
    x = TokenAndPositionEmbedding(config.vocabulary_size, config.sequence_length, config.embedding_dim,
                                  mask_zero=True, name="token_embedding")(ids[TOKEN_IDS])
    x = add_bigrams(x, ids, config)
    embedding_summary = MaskedMeanMaxPooling(name="embedding_pooling")(x)
    x = pooled_for_sequence_model(x, config)
    for index in range(1, config.num_blocks + 1):
        x = TransformerEncoderBlock(config.num_heads, config.intermediate_dim, dropout=config.dropout,
                                    activation="gelu", seed=config.seed,
                                    name=f"{ENCODER_BLOCK_PREFIX}{index}")(x)
    encoder_summary = MaskedMeanMaxPooling(name="encoder_pooling")(x)
    outputs = classifier_head([embedding_summary, encoder_summary], config)
    return keras.Model(inputs, outputs, name="sentiment_transformer")


def _rnn(config):
    cell = keras.layers.GRU if config.rnn_cell == "gru" else keras.layers.LSTM
    return cell(config.rnn_units, return_sequences=True, name=config.rnn_cell)


def build_recurrent(config):
    """Embedding (+ bigrams) → bidirectional GRU/LSTM → masked mean/max and additive
    attention pooling (`layers.BahdanauAttention`, queried by the mean/max summary)."""
    inputs = id_inputs(config)
    ids = limited_ids(inputs, config)
    x = keras.layers.Embedding(config.vocabulary_size, config.embedding_dim, mask_zero=True,
                               name="token_embedding")(ids[TOKEN_IDS])
    x = add_bigrams(x, ids, config)
    x = pooled_for_sequence_model(x, config)
    x = keras.layers.Bidirectional(_rnn(config), name="bidirectional_rnn")(x)
    summary = MaskedMeanMaxPooling(name="rnn_pooling")(x)
    query = keras.layers.Dense(config.rnn_units, activation="tanh", name="attention_query")(summary)
    context = BahdanauAttention(config.rnn_units, name="attention_pooling")([query, x])
    outputs = classifier_head([summary, context], config)
    return keras.Model(inputs, outputs, name="sentiment_recurrent")


BUILDERS = {"transformer": build_transformer, "recurrent": build_recurrent}


# ----- the model that is trained, saved and exported ------------------------------------
@keras.saving.register_keras_serializable(package=PACKAGE)
class SentimentClassifier(keras.Model):
    """A token-id classifier together with the vectorizers adapted on its training split.

    Training and evaluation feed token ids (vectorized once in the tf.data
    pipeline); `vectorize` turns raw strings into those ids, and `model.keras`
    keeps the vocabularies, so an export needs nothing but the saved file.

    Args:
        classifier: functional model from `{"token_ids", ["bigram_ids"]}` to the
            positive probability, shape `(batch, 1)`.
        token_vectorizer: adapted word `TextVectorization`.
        bigram_vectorizer: adapted word-pair `TextVectorization`, or None.
    """

    def __init__(self, classifier, token_vectorizer, bigram_vectorizer=None, **kwargs):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.token_vectorizer = token_vectorizer
        self.bigram_vectorizer = bigram_vectorizer
        self.built = True

    @property
    def vectorizers(self):
        vectorizers = {TOKEN_IDS: self.token_vectorizer}
        if self.bigram_vectorizer is not None:
            vectorizers[BIGRAM_IDS] = self.bigram_vectorizer
        return vectorizers

    def call(self, inputs, training=None):
        return self.classifier(inputs, training=training)

    def vectorize(self, texts):
        """Raw strings `(batch,)` → `{input_name: int ids (batch, sequence_length)}`."""
        return {name: vectorizer(texts) for name, vectorizer in self.vectorizers.items()}

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {
            "name": self.name,
            "trainable": self.trainable,
            "classifier": serialize(self.classifier),
            "token_vectorizer": serialize(self.token_vectorizer),
            "bigram_vectorizer": serialize(self.bigram_vectorizer) if self.bigram_vectorizer else None,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        for key in ("classifier", "token_vectorizer", "bigram_vectorizer"):
            if config.get(key) is not None:
                config[key] = deserialize(config[key])
        return cls(**config)


def compile_model(model, config, train_examples):
    model.compile(
        optimizer=scheduled_optimizer(config, train_examples),
        loss=keras.losses.BinaryCrossentropy(label_smoothing=config.label_smoothing),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
    )
    return model


def build_classifier(config):
    """The uncompiled token-id model that `config.model` names."""
    return BUILDERS[config.model](config)


def build_model(config, vectorizers, train_examples):
    """The compiled `SentimentClassifier` for `config` around adapted `vectorizers`."""
    model = SentimentClassifier(
        build_classifier(config),
        vectorizers[TOKEN_IDS],
        vectorizers.get(BIGRAM_IDS),
        name=f"sentiment_{config.model}",
    )
    return compile_model(model, config, train_examples)
