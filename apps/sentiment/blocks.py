"""Layers only the sentiment models use (the reusable ones come from `layers`)."""

import keras
from keras import ops

from layers import BigramEmbedding, MaskedChunkPooling, MaskedMeanMaxPooling

PACKAGE = "kapps_sentiment"

# `.keras` files saved before these layers moved to `layers/` name them under this
# package: the old names stay aliases of the moved classes, so those files still load.
MOVED_TO_LAYERS = (BigramEmbedding, MaskedChunkPooling, MaskedMeanMaxPooling)
keras.saving.get_custom_objects().update({f"{PACKAGE}>{layer.__name__}": layer for layer in MOVED_TO_LAYERS})


@keras.saving.register_keras_serializable(package=PACKAGE)
class LimitTokenIds(keras.layers.Layer):
    """Keeps the first `sequence_length` ids and maps ids ≥ `vocabulary_size` to [UNK] (1).

    Lets a model use a shorter sequence or a smaller vocabulary than the adapted
    vectorizer (the tuner searches both without re-adapting).
    """

    def __init__(self, vocabulary_size, sequence_length, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.sequence_length = int(sequence_length)

    def call(self, ids):
        ids = ids[:, : self.sequence_length]
        return ops.where(ops.less(ids, self.vocabulary_size), ids, ops.ones_like(ids))

    def compute_output_shape(self, input_shape):
        length = input_shape[1]
        return (input_shape[0], None if length is None else min(length, self.sequence_length))

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "sequence_length": self.sequence_length,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class TfIdfBagLogit(keras.layers.Layer):
    """A linear model over a text's weighted bag of n-grams: one weight per n-gram.

    Each distinct n-gram `i` of a text, seen `c_i` times, gets the feature
    `tf(c_i) * scale_i`, the features are divided by their L2 norm, and the logit is
    their dot product with the learned weights. `tf` is `1 + log c_i` (sublinear term
    frequency) or, with `binary`, 1 for any n-gram present. The per-n-gram scale is
    fitted on the training texts (`set_term_scale`) and saved as a non-trainable
    weight: the idf makes a tf-idf logistic regression; the Naive-Bayes log-count
    ratio over binary features makes NB-weighted logistic regression (NBSVM, Wang &
    Manning 2012).

    A linear model over ~10^5 sparse features needs much larger steps than the
    network it is trained with: the weights are stored divided by
    `learning_rate_multiplier`, so an optimizer whose step size does not depend on
    the gradient's scale (Adam and its kin) moves the effective weights that many
    times faster.

    Args:
        vocabulary_size: n-gram ids are in `[0, vocabulary_size)`; 0 is padding.
        learning_rate_multiplier: how much faster than the rest of the model the
            term weights learn under Adam-like optimizers.
        binary: count each distinct n-gram of a text once.

    Call arguments:
        bag_ids: int tensor `(batch, terms)`, a text's distinct n-gram ids, 0-padded.
        bag_counts: float tensor `(batch, terms)`, how often each occurs.

    Returns:
        The logit, `(batch, 1)`; 0 for an empty text.
    """

    def __init__(self, vocabulary_size, learning_rate_multiplier=1.0, binary=False, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = int(vocabulary_size)
        self.learning_rate_multiplier = float(learning_rate_multiplier)
        self.binary = bool(binary)

    def build(self, bag_ids_shape, bag_counts_shape=None):
        self.scaled_term_weights = self.add_weight(
            shape=(self.vocabulary_size,), initializer="zeros", name="scaled_term_weights"
        )
        self.term_scale = self.add_weight(
            shape=(self.vocabulary_size,), initializer="ones", trainable=False, name="term_scale"
        )
        self.built = True

    def set_term_scale(self, scale):
        self.term_scale.assign(ops.convert_to_tensor(scale, dtype=self.term_scale.dtype))

    @property
    def term_weights(self):
        """The effective weight of each n-gram."""
        return self.scaled_term_weights * self.learning_rate_multiplier

    def set_term_weights(self, weights):
        weights = ops.convert_to_tensor(weights, dtype=self.scaled_term_weights.dtype)
        self.scaled_term_weights.assign(weights / self.learning_rate_multiplier)

    def call(self, bag_ids, bag_counts):
        ids = ops.clip(ops.cast(bag_ids, "int32"), 0, self.vocabulary_size - 1)
        counts = ops.cast(bag_counts, self.compute_dtype)
        present = ops.cast(ops.logical_and(ops.greater(ids, 0), ops.greater(counts, 0)), self.compute_dtype)
        frequency = present if self.binary else (1.0 + ops.log(ops.maximum(counts, 1.0))) * present
        features = frequency * ops.cast(ops.take(self.term_scale, ids), self.compute_dtype)
        norm = ops.sqrt(ops.maximum(ops.sum(ops.square(features), axis=-1, keepdims=True), 1e-12))
        weights = ops.cast(ops.take(self.scaled_term_weights, ids), self.compute_dtype)
        logit = ops.sum(features / norm * weights, axis=-1, keepdims=True)
        return logit * self.learning_rate_multiplier

    def compute_output_shape(self, bag_ids_shape, bag_counts_shape=None):
        return (bag_ids_shape[0], 1)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "learning_rate_multiplier": self.learning_rate_multiplier,
            "binary": self.binary,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class MemberLogitCombination(keras.layers.Layer):
    """Combines ensemble members' probabilities: `sigmoid(sum_i w_i * logit(p_i) + b)`.

    The weights start as a plain average of the members' logits and are not trained
    by gradient descent: `set_combination` stores weights fitted afterwards on held-out
    data (stacking), so a weaker, over-confident member cannot outvote a better one.

    Args:
        members: number of member probabilities combined.

    Call arguments:
        inputs: list of `members` probability tensors of shape `(batch, 1)`.

    Returns:
        The combined probability, `(batch, 1)`.
    """

    def __init__(self, members, **kwargs):
        super().__init__(**kwargs)
        self.members = int(members)

    def build(self, input_shape):
        self.member_weights = self.add_weight(
            shape=(self.members,),
            initializer=keras.initializers.Constant(1.0 / self.members),
            trainable=False,
            name="member_weights",
        )
        self.bias = self.add_weight(shape=(), initializer="zeros", trainable=False, name="bias")
        self.built = True

    def set_combination(self, weights, bias):
        self.member_weights.assign(ops.convert_to_tensor(weights, dtype=self.member_weights.dtype))
        self.bias.assign(ops.convert_to_tensor(bias, dtype=self.bias.dtype))

    def call(self, inputs):
        probabilities = ops.clip(ops.concatenate([ops.cast(p, "float32") for p in inputs], axis=-1), 1e-7, 1.0 - 1e-7)
        logits = ops.log(probabilities) - ops.log1p(-probabilities)
        combined = ops.sum(logits * ops.cast(self.member_weights, "float32"), axis=-1, keepdims=True)
        return ops.sigmoid(combined + ops.cast(self.bias, "float32"))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], 1)

    def get_config(self):
        return {**super().get_config(), "members": self.members}
