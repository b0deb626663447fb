"""The Keras Tuner HyperModel of an app: it only chooses config values, builds through the app and
trains through the app.

The app's `search_space(hp, config)` chooses its own fields (architecture, widths,
depth, dropout...). `ConfigHyperModel` adds the choices every app shares, unless
the app already made them: the optimizer, the learning rate, the batch size and
the number of epochs. A trial trains with `App.train`, the same path as `kapps <app>
train` (early stopping, ensembles, stacking, custom loops), on the app's already
batched pipelines rebatched to the chosen batch size instead of reloading the data.
"""

import dataclasses

import keras_tuner

# Adam, RMSProp, AdaGrad and SGD with (Nesterov) momentum; see apps.core.optimizers.
SHARED_OPTIMIZERS = ("adam", "rmsprop", "adagrad", "sgd")
LEARNING_RATE_SPAN = 10.0  # the shared learning-rate range is [lr / 10, lr * 10]


@dataclasses.dataclass
class TrainingSpace:
    """How the shared training hyperparameters are searched.

    Attributes:
        max_epochs: the largest number of epochs; None keeps `config.epochs`.
        tune_epochs: choose the epochs (1..max_epochs) per trial; False trains
            every trial for `max_epochs` (Hyperband decides the epochs itself).
        batch_sizes: batch sizes to choose from; empty: half, equal to and twice
            the config's batch size.
        optimizers: optimizers to choose from when the app's space has none.
    """

    max_epochs: "int | None" = None
    tune_epochs: bool = True
    batch_sizes: tuple = ()
    optimizers: tuple = SHARED_OPTIMIZERS


def _has_field(config, name):
    return name in {field.name for field in dataclasses.fields(config)}


def _default_batch_sizes(batch_size):
    return tuple(sorted({max(1, batch_size // 2), batch_size, batch_size * 2}))


def choose_shared_values(hp, config, space):
    """The shared choices as config values. Names the app already declared keep
    the app's value (Keras Tuner returns the existing value for a known name)."""
    changes = {}
    if _has_field(config, "optimizer"):
        choices = list(dict.fromkeys((config.optimizer, *space.optimizers)))
        changes["optimizer"] = hp.Choice("optimizer", choices, default=config.optimizer)
    if _has_field(config, "learning_rate"):
        rate = config.learning_rate
        changes["learning_rate"] = hp.Float(
            "learning_rate",
            rate / LEARNING_RATE_SPAN,
            rate * LEARNING_RATE_SPAN,
            sampling="log",
            default=rate,
        )
    if _has_field(config, "batch_size"):
        sizes = space.batch_sizes or _default_batch_sizes(config.batch_size)
        default = config.batch_size if config.batch_size in sizes else sizes[0]
        changes["batch_size"] = hp.Choice("batch_size", list(sizes), default=default)
    if _has_field(config, "epochs"):
        changes["epochs"] = _choose_epochs(hp, config, space)
    return config.replace(**changes)


def _choose_epochs(hp, config, space):
    max_epochs = space.max_epochs or config.epochs
    if not space.tune_epochs or max_epochs <= 1:
        return max_epochs
    return hp.Int("epochs", 1, max_epochs, default=max_epochs)


def count_examples(dataset):
    """Examples in a batched dataset (one pass over it)."""
    import tensorflow as tf

    return int(
        dataset.reduce(
            tf.constant(0, tf.int64),
            lambda count, batch: count + tf.cast(tf.shape(tf.nest.flatten(batch)[0])[0], tf.int64),
        )
    )


class ConfigHyperModel(keras_tuner.HyperModel):
    """Builds `app.make_model(config_for(hp), data)` and fits with the chosen
    batch size and epochs.

    Args:
        app: the App whose `search_space`, `build_model` and `train` are used, the same ones
            training uses.
        config: the base config; the search space returns a copy with chosen values.
        data: the app's `DataSplits` (models may need what was fitted on it).
        training_space: a `TrainingSpace` for the shared choices.
    """

    def __init__(self, app, config, data, training_space=None, **kwargs):
        super().__init__(name=f"{app.name}_hypermodel", **kwargs)
        self.app = app
        self.config = config
        self.data = data
        self.training_space = training_space or TrainingSpace()
        self._example_counts = {}

    def config_for(self, hp):
        """The config this trial trains: the app's choices, then the shared ones."""
        return choose_shared_values(hp, self.app.search_space(hp, self.config), self.training_space)

    def build(self, hp):
        return self.app.make_model(self.config_for(hp).validate(), self.data)

    def fit(self, hp, model, *args, callbacks=(), epochs=None, initial_epoch=0, verbose=None, **kwargs):
        """`App.train` on the app's data, rebatched to the chosen batch size, for the
        chosen epochs (unless the tuner passes `epochs`, as Hyperband does). Returns
        `App.train`'s `History`."""
        if args or kwargs:
            raise TypeError(
                "ConfigHyperModel trains through App.train on the app's own data; "
                f"tuner.search() cannot pass data or fit options ({sorted(kwargs)})."
            )
        config = self.config_for(hp)
        if epochs is not None:
            config = config.replace(epochs=epochs)
        data = self.data.replace(
            train=self._batches(self.data.train, config), validation=self._batches(self.data.validation, config)
        )
        return self.app.train(
            model, data, config, run=None, callbacks=list(callbacks or ()), initial_epoch=initial_epoch
        )

    def metric_names(self, hp):
        """The metric names a trial reports, from one epoch of `App.train` on one batch
        of each split (so an objective can be checked before the first trial)."""
        config = self.config_for(hp).replace(epochs=1)
        data = self.data.replace(
            train=self.data.train.take(1),
            validation=None if self.data.validation is None else self.data.validation.take(1),
        )
        return sorted(self.app.train(self.build(hp), data, config, run=None, callbacks=[]).history)

    def _batches(self, dataset, config):
        from apps.core.data import rebatch

        if dataset is None or config.batch_size == self.config.batch_size:
            return dataset
        if id(dataset) not in self._example_counts:
            self._example_counts[id(dataset)] = count_examples(dataset)
        return rebatch(dataset, config.batch_size, self._example_counts[id(dataset)])
