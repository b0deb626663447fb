"""The churn model: raw columns → in-model preprocessing → residual MLP (+ wide path) → probability."""

import keras

from apps.churn.preprocessing import DecisionThreshold, encoded_features, model_inputs
from apps.core.optimizers import make_optimizer, steps_per_epoch
from layers import DenseResidualBlock

THRESHOLD_LAYER = "decision_threshold"


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
        apply_class_balancing=alpha is not None, alpha=alpha if alpha is not None else 0.25,
        gamma=config.focal_gamma,
    )


def residual_tower(x, config, prefix="", seed=0):
    for index in range(config.depth):
        x = DenseResidualBlock(config.width, dropout=config.dropout, seed=seed + index,
                               name=f"{prefix}residual_block_{index + 1}")(x)
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
            churn_logit(encoded, config, member_prefix(index, config), config.seed + 1000 * index))
        for index in range(config.ensemble)
    ]
    if len(probabilities) == 1:
        return probabilities[0]
    return keras.layers.Average(name="ensemble_mean")(probabilities)


def build_network(columns, train_features, config):
    """The uncompiled model: a dict of raw columns in, churn probability (batch, 1) out."""
    inputs = model_inputs(columns)
    encoded = encoded_features(inputs, columns, train_features, config)
    outputs = DecisionThreshold(name=THRESHOLD_LAYER)(churn_probability(encoded, config))
    return keras.Model(inputs, outputs, name=f"churn_{config.model}")


def ensemble_members(model, config):
    """Models sharing the ensemble's layers, one per member, to be trained one at a time."""
    return [keras.Model(model.input, model.get_layer(f"{member_prefix(index, config)}probability").output,
                        name=f"member_{index + 1}")
            for index in range(config.ensemble)]


def compile_model(model, config, positive_rate, train_examples):
    """Compiles with the config's optimizer; `config.ema_momentum` averages the weights,
    copied into the model at every epoch's end (so early stopping judges the average)."""
    model.compile(
        optimizer=make_optimizer(config.optimizer, config.learning_rate, config.weight_decay,
                                 ema_momentum=config.ema_momentum,
                                 ema_every_steps=steps_per_epoch(train_examples, config.batch_size)),
        loss=make_loss(config, positive_rate),
        metrics=[keras.metrics.AUC(name="auc"), keras.metrics.AUC(curve="PR", name="pr_auc")],
    )
    return model


def build_model(config, info):
    """The compiled churn model, its preprocessing adapted on `info["train_features"]`."""
    model = build_network(info["columns"], info["train_features"], config)
    return compile_model(model, config, info["positive_rate"], info["train_examples"])


def threshold_variable(model):
    return model.get_layer(THRESHOLD_LAYER).threshold


def set_threshold(model, threshold):
    threshold_variable(model).assign(float(threshold))


def get_threshold(model):
    return float(keras.ops.convert_to_numpy(threshold_variable(model)))
