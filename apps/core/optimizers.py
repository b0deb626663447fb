"""Optimizers and learning-rate schedules shared by the apps (and chosen by the tuner)."""

import math

import keras

OPTIMIZERS = ("adam", "adamw", "rmsprop", "adagrad", "sgd")


def warmup_cosine_schedule(peak_learning_rate, total_steps, warmup_steps=0):
    """Linear warm-up to the peak, then cosine decay to zero over the remaining steps."""
    total_steps = max(1, int(total_steps))
    warmup_steps = min(int(warmup_steps), total_steps - 1)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup_steps else peak_learning_rate,
        decay_steps=total_steps - warmup_steps,
        warmup_target=peak_learning_rate if warmup_steps else None,
        warmup_steps=warmup_steps,
    )


def _ema_arguments(ema_momentum, ema_every_steps):
    if not ema_momentum:
        return {}
    if not 0.0 < ema_momentum < 1.0:
        raise ValueError(f"ema_momentum must be in (0, 1) or 0 to turn it off, got {ema_momentum}.")
    return {"use_ema": True, "ema_momentum": ema_momentum, "ema_overwrite_frequency": ema_every_steps}


def make_optimizer(name, learning_rate, weight_decay=0.0, ema_momentum=0.0, ema_every_steps=None):
    """A Keras optimizer by name; `learning_rate` may be a float or a schedule.

    `ema_momentum` > 0 keeps an exponential moving average of the weights and copies it
    into the model every `ema_every_steps` steps (and when `fit` ends).
    """
    extra = _ema_arguments(ema_momentum, ema_every_steps)
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, **extra)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=weight_decay, **extra)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate, **extra)
    if name == "adagrad":
        return keras.optimizers.Adagrad(learning_rate, **extra)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True, **extra)
    raise ValueError(f"Unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}.")


def steps_per_epoch(examples, batch_size):
    return max(1, math.ceil(examples / batch_size))


def scheduled_optimizer(config, train_examples):
    """The config's optimizer with linear warm-up then cosine decay over the whole training.

    With `config.ema_momentum` set, the weight average is copied into the model at the end
    of every epoch, so validation, checkpoints and the saved model all use it.
    """
    steps = steps_per_epoch(train_examples, config.batch_size)
    schedule = warmup_cosine_schedule(
        config.learning_rate, steps * config.epochs, warmup_steps=steps * config.warmup_epochs
    )
    return make_optimizer(
        config.optimizer, schedule, config.weight_decay,
        ema_momentum=getattr(config, "ema_momentum", 0.0), ema_every_steps=steps,
    )
