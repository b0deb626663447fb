"""The churn model: encoded features → residual MLP (+ wide path) → probability, with the
preprocessing that encodes raw columns carried beside the network (`ChurnModel`)."""

import keras
import numpy as np

from apps.churn.preprocessing import ChurnPreprocessing
from apps.core.optimizers import make_optimizer, steps_per_epoch
from layers import DenseResidualBlock

THRESHOLD_LAYER = "decision_threshold"
ENCODED_INPUT = "encoded_features"


@keras.saving.register_keras_serializable(package="kapps_churn")
class DecisionThreshold(keras.layers.Layer):
    """Passes churn probabilities through and keeps the decision threshold as a weight.

    The threshold is chosen on held-out predictions after training
    (`apps.churn.threshold`), saved with the model, and read by `ChurnApp.decode_predictions`.
    """

    def __init__(self, threshold=0.5, **kwargs):
        super().__init__(**kwargs)
        self.initial_threshold = float(threshold)

    def build(self, input_shape):
        self.threshold = self.add_weight(
            shape=(),
            initializer=keras.initializers.Constant(self.initial_threshold),
            trainable=False,
            name="threshold",
            dtype="float32",
        )

    def call(self, probabilities):
        return probabilities

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "threshold": self.initial_threshold}


@keras.saving.register_keras_serializable(package="kapps_churn")
class ChurnModel(keras.Model):
    """The network (encoded features → churn probability, any backend) and the
    preprocessing (raw columns → encoded features, TensorFlow) it was trained with.

    Calling the model runs the network on encoded features, as the `tf.data` pipelines
    deliver them; `preprocessing` is saved in the model's config, so the serving
    signature of a re-loaded model (trained on any backend) encodes raw columns exactly
    as training did.

    Args:
        network: functional model from `(batch, preprocessing.output_size)` floats to
            `(batch, 1)` probabilities, ending with a `DecisionThreshold` layer.
        preprocessing: the fitted `ChurnPreprocessing`.
    """

    def __init__(self, network, preprocessing, **kwargs):
        super().__init__(**kwargs)
        self.network = network
        self.preprocessing = preprocessing
        self.built = True  # the network is built; nothing else holds weights

    def call(self, encoded, training=None):
        return self.network(encoded, training=training)

    def get_config(self):
        return {
            **super().get_config(),
            "network": keras.saving.serialize_keras_object(self.network),
            "preprocessing": self.preprocessing.get_config(),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        network = keras.saving.deserialize_keras_object(config.pop("network"))
        return cls(network, ChurnPreprocessing.from_config(config.pop("preprocessing")), **config)


def class_balance_alpha(class_weighting, positive_rate):
    """The weight of the churn class in the loss (the other class gets 1 - alpha); None: unweighted."""
    if class_weighting == "none":
        return None
    if class_weighting == "balanced":
        return 1.0 - positive_rate
    negative_rate = 1.0 - positive_rate
    return negative_rate**0.5 / (negative_rate**0.5 + positive_rate**0.5)


def make_loss(config, positive_rate):
    """Cross-entropy, class-weighted and/or focal: `BinaryFocalCrossentropy` covers all of them."""
    alpha = class_balance_alpha(config.class_weighting, positive_rate)
    if alpha is None and config.focal_gamma == 0:
        return keras.losses.BinaryCrossentropy()
    return keras.losses.BinaryFocalCrossentropy(
        apply_class_balancing=alpha is not None,
        alpha=alpha if alpha is not None else 0.25,
        gamma=config.focal_gamma,
    )


def residual_tower(x, config, prefix="", seed=0):
    for index in range(config.depth):
        x = DenseResidualBlock(
            config.width, dropout=config.dropout, seed=seed + index, name=f"{prefix}residual_block_{index + 1}"
        )(x)
    if config.depth:
        x = keras.layers.LayerNormalization(name=f"{prefix}tower_norm")(x)
        x = keras.layers.Activation("relu", name=f"{prefix}tower_relu")(x)
        x = keras.layers.Dropout(config.dropout, seed=seed, name=f"{prefix}head_dropout")(x)
    return keras.layers.Dense(1, name=f"{prefix}deep_logit")(x)


def churn_logit(encoded, config, prefix="", seed=0):
    logit = residual_tower(encoded, config, prefix, seed)
    if config.wide and config.depth:
        wide = keras.layers.Dense(1, name=f"{prefix}wide_logit")(encoded)
        logit = keras.layers.Add(name=f"{prefix}logit")([logit, wide])
    return logit


def member_prefix(index, config):
    return f"member{index + 1}_" if config.ensemble > 1 else ""


def churn_probability(encoded, config):
    """One residual MLP's probability, or the mean of `config.ensemble` of them."""
    probabilities = [
        keras.layers.Activation("sigmoid", dtype="float32", name=f"{member_prefix(index, config)}probability")(
            churn_logit(encoded, config, member_prefix(index, config), config.seed + 1000 * index)
        )
        for index in range(config.ensemble)
    ]
    if len(probabilities) == 1:
        return probabilities[0]
    return keras.layers.Average(name="ensemble_mean", dtype="float32")(probabilities)


def build_network(input_size, config):
    """The uncompiled network: encoded features (batch, input_size) in, churn probability (batch, 1) out."""
    encoded = keras.Input(shape=(input_size,), name=ENCODED_INPUT)
    outputs = DecisionThreshold(name=THRESHOLD_LAYER, dtype="float32")(churn_probability(encoded, config))
    return keras.Model(encoded, outputs, name=f"churn_{config.model}_network")


def ensemble_members(model, config):
    """Models sharing the ensemble's layers, one per member, to be trained one at a time."""
    network = model.network
    return [
        keras.Model(
            network.input,
            network.get_layer(f"{member_prefix(index, config)}probability").output,
            name=f"member_{index + 1}",
        )
        for index in range(config.ensemble)
    ]


def compile_model(model, config, positive_rate, train_examples):
    """Compiles with the config's optimizer; `config.ema_momentum` averages the weights,
    copied into the model at every epoch's end (so early stopping judges the average)."""
    model.compile(
        optimizer=make_optimizer(
            config.optimizer,
            config.learning_rate,
            config.weight_decay,
            ema_momentum=config.ema_momentum,
            ema_every_steps=steps_per_epoch(train_examples, config.batch_size),
        ),
        loss=make_loss(config, positive_rate),
        metrics=[keras.metrics.AUC(name="auc")],
    )
    return model


def build_model(config, data):
    """The compiled `ChurnModel` for the preprocessing fitted in `data` (`apps.churn.data.make_splits`)."""
    preprocessing = data.info.preprocessing
    model = ChurnModel(build_network(preprocessing.output_size, config), preprocessing, name=f"churn_{config.model}")
    return compile_model(model, config, data.info.positive_rate, data.train_examples)


def threshold_variable(model):
    return model.network.get_layer(THRESHOLD_LAYER).threshold


def set_threshold(model, threshold):
    threshold_variable(model).assign(float(threshold))


def get_threshold(model):
    return float(keras.ops.convert_to_numpy(threshold_variable(model)))


def predict_probabilities(model, encoded):
    """Churn probabilities (n,) of a model or ensemble member, for a batched dataset of
    encoded features (`apps.churn.data.encoded_features`)."""
    return np.asarray(model.predict(encoded, verbose=0)).ravel()
