"""A Keras Tuner HyperModel that only chooses config values and builds through the app."""

import keras_tuner


class ConfigHyperModel(keras_tuner.HyperModel):
    """Builds `app.build_model(search_space(hp, config), data)`.

    Args:
        app: the App whose `build_model` is used, the same one training uses.
        config: the base config; the search space returns a copy with chosen values.
        data: the app's `DataSplits` (models may need what was fitted on it).
        search_space: `fn(hp, config) -> config` declaring the hyperparameters.
    """

    def __init__(self, app, config, data, search_space, **kwargs):
        super().__init__(name=f"{app.name}_hypermodel", **kwargs)
        self.app = app
        self.config = config
        self.data = data
        self.search_space = search_space

    def config_for(self, hp):
        return self.search_space(hp, self.config)

    def build(self, hp):
        return self.app.build_model(self.config_for(hp), self.data)
