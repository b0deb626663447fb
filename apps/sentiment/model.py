"""Sentiment models: a transformer encoder and a bidirectional RNN over token ids, and the
`SentimentClassifier` that keeps the adapted text vectorizers with them."""

import keras
import numpy as np

from apps.core.distribute import predict_batch
from apps.core.optimizers import scheduled_optimizer
from apps.sentiment.blocks import PACKAGE, LimitTokenIds, MemberLogitCombination, TfIdfBagLogit
from apps.sentiment.text import BAG_COUNTS, BAG_IDS, BIGRAM_IDS, NGRAM_BAG, TOKEN_IDS, bag_of_ngrams_for_backend
from layers import (
    BahdanauAttention,
    BigramEmbedding,
    MaskedChunkPooling,
    MaskedMeanMaxPooling,
    TokenAndPositionEmbedding,
    TransformerEncoderBlock,
)

ENCODER_BLOCK_PREFIX = "encoder_block_"
BAG_LAYER = "tfidf_bag"
MEMBER_OUTPUTS = ("network_probability", "bag_probability")


# ----- shared pieces ---------------------------------------------------------------------
def id_inputs(config):
    """Inputs of any length (the vectorizers pad to `sequence_length` / `bag_max_terms`)."""
    inputs = {TOKEN_IDS: keras.Input((None,), dtype="int32", name=TOKEN_IDS)}
    if config.uses_bigrams:
        inputs[BIGRAM_IDS] = keras.Input((None,), dtype="int32", name=BIGRAM_IDS)
    if config.uses_bag:
        inputs[BAG_IDS] = keras.Input((None,), dtype="int32", name=BAG_IDS)
        inputs[BAG_COUNTS] = keras.Input((None,), dtype="float32", name=BAG_COUNTS)
    return inputs


def limited_ids(inputs, config):
    """The inputs cut to `config.sequence_length` and its vocabulary sizes."""
    limited = {
        TOKEN_IDS: LimitTokenIds(config.vocabulary_size, config.sequence_length, name="limit_token_ids")(
            inputs[TOKEN_IDS]
        )
    }
    if config.uses_bigrams:
        limited[BIGRAM_IDS] = LimitTokenIds(
            config.bigram_vocabulary_size, config.sequence_length, name="limit_bigram_ids"
        )(inputs[BIGRAM_IDS])
    return limited


def add_bigrams(x, ids, config):
    if not config.uses_bigrams:
        return x
    return BigramEmbedding(
        config.bigram_vocabulary_size,
        config.embedding_dim,
        table_dim=min(config.bigram_embedding_dim, config.embedding_dim),
        name="bigram_embedding",
    )(x, ids[BIGRAM_IDS])


def pooled_for_sequence_model(x, config):
    """Dropout, then averages of `pool_size` neighbouring tokens (padding excluded)."""
    x = keras.layers.Dropout(config.dropout, name="embedding_dropout")(x)
    if config.pool_size > 1:
        x = MaskedChunkPooling(config.pool_size, name="chunk_pooling")(x)
    return x


def classifier_head(features, inputs, config):
    """The probability from the pooled `features`; with the n-gram bag on, that probability
    combined with the bag's own: a two-member ensemble in one model, each member trained on
    its own loss (see `SentimentClassifier`), their logits weighted as fitted on validation
    data (`fit_member_combination`; a plain logit average until then).
    """
    x = keras.layers.Concatenate(name="features")(features)
    x = keras.layers.Dropout(config.dropout, name="head_dropout")(x)
    if not config.uses_bag:
        return keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="probability")(x)
    network = keras.layers.Dense(1, activation="sigmoid", dtype="float32", name=MEMBER_OUTPUTS[0])(x)
    bag_logit = TfIdfBagLogit(
        config.bag_vocabulary_size,
        config.bag_learning_rate_multiplier,
        binary=config.bag_weighting == "nb",
        name=BAG_LAYER,
    )(inputs[BAG_IDS], inputs[BAG_COUNTS])
    bag = keras.layers.Activation("sigmoid", dtype="float32", name=MEMBER_OUTPUTS[1])(bag_logit)
    return MemberLogitCombination(len(MEMBER_OUTPUTS), dtype="float32", name="probability")([network, bag])


# ----- architectures ---------------------------------------------------------------------
def build_transformer(config):
    """Token + position embedding (+ bigram embedding) → encoder blocks → masked pooling.

    The classifier sees the masked mean/max of the encoder output and of the
    embeddings themselves (a residual path around the encoder).
    """
    inputs = id_inputs(config)
    ids = limited_ids(inputs, config)
    x = TokenAndPositionEmbedding(
        config.vocabulary_size, config.sequence_length, config.embedding_dim, mask_zero=True, name="token_embedding"
    )(ids[TOKEN_IDS])
    x = add_bigrams(x, ids, config)
    embedding_summary = MaskedMeanMaxPooling(name="embedding_pooling")(x)
    x = pooled_for_sequence_model(x, config)
    for index in range(1, config.num_blocks + 1):
        x = TransformerEncoderBlock(
            config.num_heads,
            config.intermediate_dim,
            dropout=config.dropout,
            activation="gelu",
            seed=config.seed,
            name=f"{ENCODER_BLOCK_PREFIX}{index}",
        )(x)
    encoder_summary = MaskedMeanMaxPooling(name="encoder_pooling")(x)
    outputs = classifier_head([embedding_summary, encoder_summary], inputs, config)
    return keras.Model(inputs, outputs, name="sentiment_transformer")


def _rnn(config):
    cell = keras.layers.GRU if config.rnn_cell == "gru" else keras.layers.LSTM
    return cell(config.rnn_units, return_sequences=True, name=config.rnn_cell)


def build_recurrent(config):
    """Embedding (+ bigrams) → bidirectional GRU/LSTM → masked mean/max and additive
    attention pooling (`layers.BahdanauAttention`, queried by the mean/max summary)."""
    inputs = id_inputs(config)
    ids = limited_ids(inputs, config)
    x = keras.layers.Embedding(config.vocabulary_size, config.embedding_dim, mask_zero=True, name="token_embedding")(
        ids[TOKEN_IDS]
    )
    x = add_bigrams(x, ids, config)
    x = pooled_for_sequence_model(x, config)
    x = keras.layers.Bidirectional(_rnn(config), name="bidirectional_rnn")(x)
    summary = MaskedMeanMaxPooling(name="rnn_pooling")(x)
    query = keras.layers.Dense(config.rnn_units, activation="tanh", name="attention_query")(summary)
    context = BahdanauAttention(config.rnn_units, name="attention_pooling")([query, x])
    outputs = classifier_head([summary, context], inputs, config)
    return keras.Model(inputs, outputs, name="sentiment_recurrent")


BUILDERS = {"transformer": build_transformer, "recurrent": build_recurrent}


# ----- the model that is trained, saved and exported ------------------------------------
@keras.saving.register_keras_serializable(package=PACKAGE)
class SentimentClassifier(keras.Model):
    """A token-id classifier together with the vectorizers adapted on its training split.

    Training and evaluation feed token ids (vectorized once in the tf.data
    pipeline); `vectorize` turns raw strings into those ids, and `model.keras`
    keeps the vocabularies, so an export needs nothing but the saved file.

    With the n-gram bag, the classifier combines two members, the network and the bag:
    their logits weighted as fitted on validation data (`fit_member_combination`; a
    plain logit average until then). Each member is trained on its own cross-entropy,
    as if alone: in training `call` returns both probabilities `(batch, 2)` and the
    loss compares each with the label, smoothed by `network_label_smoothing` for the
    network only (it keeps the network from becoming over-confident once it has
    fitted the training texts; the linear bag gains nothing from it). Trained jointly
    through one loss, the network fits the training texts within an epoch and the bag
    stops learning.

    Args:
        classifier: functional model from `{"token_ids", ["bigram_ids"], ["bag_ids",
            "bag_counts"]}` to the positive probability, shape `(batch, 1)`.
        token_vectorizer: adapted word `TextVectorization`.
        bigram_vectorizer: adapted word-pair `TextVectorization`, or None.
        bag_vectorizer: adapted `TextVectorization` of the whole text's words and word
            pairs (the n-gram bag), or None.
        bag_max_terms: distinct n-grams kept per text for the bag.
        network_label_smoothing: label smoothing of the network member's targets.
    """

    def __init__(
        self,
        classifier,
        token_vectorizer,
        bigram_vectorizer=None,
        bag_vectorizer=None,
        bag_max_terms=1024,
        network_label_smoothing=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.classifier = classifier
        self.token_vectorizer = token_vectorizer
        self.bigram_vectorizer = bigram_vectorizer
        self.bag_vectorizer = bag_vectorizer
        self.bag_max_terms = int(bag_max_terms)
        self.network_label_smoothing = float(network_label_smoothing)
        self.members = _members_model(classifier)
        self.built = True

    @property
    def vectorizers(self):
        vectorizers = {TOKEN_IDS: self.token_vectorizer}
        if self.bigram_vectorizer is not None:
            vectorizers[BIGRAM_IDS] = self.bigram_vectorizer
        if self.bag_vectorizer is not None:
            vectorizers[NGRAM_BAG] = self.bag_vectorizer
        return vectorizers

    def _resolve_auto_jit_compile(self):
        # Keras' `jit_compile="auto"` (at compile and at load): XLA on JAX when every layer
        # supports it. Asked of the layers a step runs: see the setter below.
        if keras.backend.backend() == "jax":
            return self._steps_support_jit()
        return super()._resolve_auto_jit_compile()

    @property
    def jit_compile(self):
        return super().jit_compile

    @jit_compile.setter
    def jit_compile(self, value):
        # Keras asks every tracked layer; the vectorizers are tracked for `vectorize` and
        # export, but no training or prediction step runs them (ids come from tf.data), and
        # their string ops would otherwise make JAX run each op of every step eagerly.
        self._jit_compile = bool(value) and self._steps_support_jit()

    def _steps_support_jit(self):
        return all(layer.supports_jit for layer in self.classifier._flatten_layers())

    def call(self, inputs, training=None):
        if training and self.members is not None:
            return keras.ops.concatenate(self.members(inputs, training=True), axis=-1)
        return self.classifier(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if y is not None and y_pred is not None:
            y = self._targets(y, y_pred)
        return super().compute_loss(x, y, y_pred, sample_weight, training)

    def _targets(self, y, y_pred):
        """The labels, smoothed by `network_label_smoothing`, for each column of `y_pred`;
        the n-gram bag's column (members in training) gets the hard labels."""
        y = keras.ops.reshape(keras.ops.cast(y, y_pred.dtype), (-1, 1))
        smoothing = self.network_label_smoothing
        network = y * (1.0 - smoothing) + 0.5 * smoothing
        if y_pred.shape[-1] == len(MEMBER_OUTPUTS):
            return keras.ops.concatenate([network, y], axis=-1)
        return network

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if y_pred is not None and y_pred.shape[-1] == len(MEMBER_OUTPUTS):
            y_pred = keras.ops.mean(y_pred, axis=-1, keepdims=True)
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def vectorize(self, texts):
        """Raw strings `(batch,)` → the classifier's inputs: `{input_name: ids (batch, length)}`."""
        inputs = {}
        for name, vectorizer in self.vectorizers.items():
            if name == NGRAM_BAG:
                inputs.update(bag_of_ngrams_for_backend(vectorizer(texts), self.bag_max_terms))
            else:
                inputs[name] = vectorizer(texts)
        return inputs

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {
            "name": self.name,
            "trainable": self.trainable,
            "classifier": serialize(self.classifier),
            "token_vectorizer": serialize(self.token_vectorizer),
            "bigram_vectorizer": serialize(self.bigram_vectorizer) if self.bigram_vectorizer else None,
            "bag_vectorizer": serialize(self.bag_vectorizer) if self.bag_vectorizer else None,
            "bag_max_terms": self.bag_max_terms,
            "network_label_smoothing": self.network_label_smoothing,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        for key in ("classifier", "token_vectorizer", "bigram_vectorizer", "bag_vectorizer"):
            if config.get(key) is not None:
                config[key] = deserialize(config[key])
        return cls(**config)


def _members_model(classifier):
    """The classifier's member probabilities as a list of outputs, or None without members."""
    names = {layer.name for layer in classifier.layers}
    if not all(name in names for name in MEMBER_OUTPUTS):
        return None
    return keras.Model(
        classifier.inputs, [classifier.get_layer(name).output for name in MEMBER_OUTPUTS], name="members"
    )


def fit_member_combination(model, dataset):
    """Stacking: fits the weights of the members' logits (and a bias) by logistic regression
    on `dataset` (held-out texts, never the test split) and stores them in the model.

    Returns `{"weights": [...], "bias": b}`, or None for a model without members.
    """
    from sklearn.linear_model import LogisticRegression

    if model.members is None:
        return None
    outputs, labels = [], []
    for inputs, targets in dataset:
        # One compiled step per batch shape (eager JAX would compile op by op); tf.data
        # yields TensorFlow tensors whatever the backend, hence NumPy.
        members = predict_batch(model.members, keras.tree.map_structure(keras.ops.convert_to_numpy, inputs))
        outputs.append(np.concatenate(members, axis=-1))
        labels.append(keras.ops.convert_to_numpy(targets).reshape(-1))
    probabilities = np.clip(np.concatenate(outputs).astype("float64"), 1e-7, 1 - 1e-7)
    logits, labels = np.log(probabilities / (1 - probabilities)), np.concatenate(labels)
    if len(np.unique(labels)) < 2:
        return None
    regression = LogisticRegression().fit(logits, labels)
    weights, bias = regression.coef_[0], float(regression.intercept_[0])
    model.classifier.get_layer("probability").set_combination(weights, bias)
    return {"weights": [float(weight) for weight in weights], "bias": bias}


def compile_model(model, config, train_examples):
    model.compile(
        optimizer=scheduled_optimizer(config, train_examples),
        loss=keras.losses.BinaryCrossentropy(),  # SentimentClassifier.compute_loss smooths the targets
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
    )
    return model


def build_classifier(config):
    """The uncompiled token-id model that `config.model` names."""
    return BUILDERS[config.model](config)


def fitted_to(scale, size):
    """`scale` cut or padded (with 1.0, ids the vocabulary never produces) to `size` entries."""
    fitted = np.ones(size, dtype="float32")
    fitted[: min(size, len(scale))] = np.asarray(scale, dtype="float32")[:size]
    return fitted


def build_model(config, vectorizers, train_examples, bag_term_scale=None):
    """The compiled `SentimentClassifier` for `config` around adapted `vectorizers`
    (`bag_term_scale`: the weighting of the bag's n-grams fitted on the training texts,
    when the bag is on)."""
    classifier = build_classifier(config)
    if config.uses_bag:
        if bag_term_scale is None or NGRAM_BAG not in vectorizers:
            raise ValueError("bag_vocabulary_size > 0 needs the adapted n-gram bag vectorizer and its term scale.")
        classifier.get_layer(BAG_LAYER).set_term_scale(fitted_to(bag_term_scale, config.bag_vocabulary_size))
    model = SentimentClassifier(
        classifier,
        vectorizers[TOKEN_IDS],
        vectorizers.get(BIGRAM_IDS),
        vectorizers.get(NGRAM_BAG) if config.uses_bag else None,
        bag_max_terms=config.bag_max_terms,
        network_label_smoothing=config.label_smoothing,
        name=f"sentiment_{config.model}",
    )
    return compile_model(model, config, train_examples)
