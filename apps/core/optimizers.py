"""Optimizers and learning-rate schedules shared by the apps (and chosen by the tuner)."""

import math

import keras

from apps.core.config import OPTIMIZER_CHOICES


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


@keras.saving.register_keras_serializable(package="kapps")
class WarmupCosineRestarts(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to the peak, then a short cosine cycle and one long one (SGDR).

    The first cycle anneals to zero after `first_cycle_steps`, which gives a good
    model early; the learning rate then restarts at the peak for a second cycle
    that spans the remaining `second_cycle_steps` (Loshchilov & Hutter, 2017).
    """

    def __init__(self, peak_learning_rate, warmup_steps, first_cycle_steps, second_cycle_steps):
        self.peak_learning_rate = float(peak_learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.first_cycle_steps = max(1, int(first_cycle_steps))
        self.second_cycle_steps = max(1, int(second_cycle_steps))
        self._cycles = keras.optimizers.schedules.CosineDecayRestarts(
            self.peak_learning_rate,
            self.first_cycle_steps,
            t_mul=self.second_cycle_steps / self.first_cycle_steps,
        )

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warming = self.peak_learning_rate * step / max(1, self.warmup_steps)
        cycling = self._cycles(keras.ops.maximum(step - self.warmup_steps, 0.0))
        return keras.ops.where(step < self.warmup_steps, warming, cycling)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
            "first_cycle_steps": self.first_cycle_steps,
            "second_cycle_steps": self.second_cycle_steps,
        }


def learning_rate_schedule(config, steps):
    """Warm-up, then one cosine decay over all epochs, or two cycles when
    `config.first_cycle_epochs` is set and leaves room for a second one (a shorter
    training is one cycle); `steps` is steps per epoch."""
    total, warmup = steps * config.epochs, steps * config.warmup_epochs
    first = steps * config.first_cycle_epochs
    if first <= 0 or warmup + first >= total:
        return warmup_cosine_schedule(config.learning_rate, total, warmup_steps=warmup)
    return WarmupCosineRestarts(config.learning_rate, warmup, first, total - warmup - first)


def _ema_arguments(ema_momentum, ema_every_steps):
    if not ema_momentum:
        return {}
    if not 0.0 < ema_momentum < 1.0:
        raise ValueError(f"ema_momentum must be in (0, 1) or 0 to turn it off, got {ema_momentum}.")
    return {"use_ema": True, "ema_momentum": ema_momentum, "ema_overwrite_frequency": ema_every_steps}


def make_optimizer(name, learning_rate, weight_decay=0.0, ema_momentum=0.0, ema_every_steps=None):
    """A Keras optimizer by name; `learning_rate` may be a float or a schedule.

    `weight_decay` is decoupled weight decay, applied by every optimizer (AdamW's own).
    `ema_momentum` > 0 keeps an exponential moving average of the weights and copies it
    into the model every `ema_every_steps` steps (and when `fit` ends).
    """
    extra = _ema_arguments(ema_momentum, ema_every_steps)
    if name != "adamw":
        extra["weight_decay"] = weight_decay or None
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
    raise ValueError(f"Unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZER_CHOICES)}.")


def steps_per_epoch(examples, batch_size):
    return max(1, math.ceil(examples / batch_size))


def scheduled_optimizer(config, train_examples):
    """The config's optimizer with linear warm-up then cosine decay over the whole training
    (or two cosine cycles, see `learning_rate_schedule`).

    With `config.ema_momentum` set, the weight average is copied into the model at the end
    of every epoch, so validation, checkpoints and the saved model all use it.
    """
    steps = steps_per_epoch(train_examples, config.batch_size)
    schedule = learning_rate_schedule(config, steps)
    return make_optimizer(
        config.optimizer,
        schedule,
        config.weight_decay,
        ema_momentum=config.ema_momentum,
        ema_every_steps=steps,
    )
