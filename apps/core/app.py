"""The App contract: what each of the six apps provides to the CLI, tuner and server."""

import abc
import dataclasses
from typing import ClassVar

from apps.core.best_weights import BestWeights
from apps.core.config import AppConfig, ConfigError
from apps.core.console import fit_verbosity
from apps.core.data import DataSource
from apps.core.field_metrics import FieldMetricsCallback


@dataclasses.dataclass
class SampleRequest:
    """One request a client could send: named input arrays for one signature.

    Used for warm-up records in exports, README examples, tests and the server's
    smoke checks. `inputs` maps the signature's input names to NumPy arrays
    (strings as `bytes`/object arrays).
    """

    signature_name: str
    inputs: dict

    def as_rest_instances(self):
        """The request in TF Serving's row format (`{"instances": [...]}` body), its values written as
        the server writes its answers (`serving.json_codec.json_values`; `serving.json_codec.dumps`
        writes NaN and infinities as the server reads them)."""
        from serving.json_codec import json_values

        columns = {name: json_values(values, name) for name, values in self.inputs.items()}
        rows = [dict(zip(columns, row)) for row in zip(*columns.values())]
        instances = next(iter(columns.values())) if len(columns) == 1 else rows
        return {"signature_name": self.signature_name, "instances": instances}


class App(abc.ABC):
    """Base class of the apps. Subclasses set the class attributes and implement the hooks.

    Every driver (the CLI, tuner trials, `--retrain-best`, benchmarks, notebooks) goes
    through the same hooks (`apps.core.workflow`): load_data → build_model → train →
    evaluate → export (`serving.export`) → predict. Raw model outputs become the app's
    answer in one place, `decode_predictions`, used by evaluation and serving alike.
    """

    name: ClassVar[str]
    title: ClassVar[str] = ""
    config_class: ClassVar[type] = AppConfig
    default_tfds_name: ClassVar[str] = ""
    # The metric that picks the best checkpoint and the tuner's default objective.
    objective: ClassVar[str] = "val_loss"
    objective_direction: ClassVar[str] = "min"
    # Names (without `val_`) of the whole-split metrics `field_metrics` returns.
    field_metric_names: ClassVar[tuple] = ()
    # What the exported model cannot do, in a sentence each (the model card lists them).
    known_limits: ClassVar[tuple] = ()
    # Streaming apps: the features of one raw example, `{key: (tf dtype, shape)}` with `None` for
    # a per-example length (`{"image": (tf.string, ()), "boxes": (tf.float32, (None, 4))}`). Their
    # loaders return `RawSplits` of such examples and `splits_from_raw` decodes them in
    # `tf.data`; empty for apps that load their data whole (`load_*` return `DataSplits`).
    record_features: ClassVar[dict] = {}

    @property
    def gate_metric(self):
        """The test metric (a key of `evaluate`'s dict) the export gate compares, in the
        objective's direction: by default the objective without its `val_` prefix."""
        return self.objective[len("val_") :] if self.objective.startswith("val_") else self.objective

    def default_config(self):
        return self.config_class()

    def tiny_config(self):
        """A config on builtin data that trains in seconds (the shared app test, smoke runs)."""
        return self.default_config().replace(data="builtin", epochs=1)

    # ----- data ---------------------------------------------------------------
    def load_data(self, config):
        """`DataSplits` of `config.data`: a streaming app's `RawSplits` decoded by
        `splits_from_raw`, other apps' loaders as they are; the training split is read
        through the tf.data service when `--data-service` names one."""
        from apps.core.data_service import through_data_service

        source = DataSource.parse(config.data)
        if self.record_features:
            data = self.splits_from_raw(self.raw_splits(source, config), config)
        elif source.kind == "records":
            raise ConfigError(
                f"--data {config.data}: the {self.name} app loads its data whole and reads no "
                "records; use tfds[:NAME], files:PATH or builtin."
            )
        else:
            data = self.load_source(source, config)
        return through_data_service(data, config)

    def raw_splits(self, source, config):
        """A streaming app's `RawSplits` of the parsed `--data` source (`records:DIR` included)."""
        if source.kind == "records":
            from apps.core.records import read_records

            return read_records(source.argument, self, config)
        return self.load_source(source, config)

    def load_source(self, source, config):
        """Dispatches a parsed `--data` source to the loader of its kind."""
        if source.kind == "tfds":
            return self.load_tfds(source.argument or self.default_tfds_name, config)
        if source.kind == "files":
            return self.load_files(source.argument, config)
        return self.load_builtin(config)

    def splits_from_raw(self, raw, config):
        """`DataSplits` streamed from `RawSplits`: decoding, resizing, augmentation and
        batching inside `tf.data` (streaming apps only)."""
        raise NotImplementedError(f"the {self.name} app loads its data whole; it has no raw examples")

    @abc.abstractmethod
    def load_tfds(self, name, config):
        """From the TFDS dataset `name` (use `apps.core.data.load_tfds`): `DataSplits`, or
        `RawSplits` for a streaming app (one with `record_features`)."""

    @abc.abstractmethod
    def load_files(self, path, config):
        """From local files in the field's usual format: `DataSplits` or `RawSplits`."""

    @abc.abstractmethod
    def load_builtin(self, config):
        """From the small offline source that is always available: `DataSplits` or `RawSplits`."""

    # ----- model --------------------------------------------------------------
    @abc.abstractmethod
    def build_model(self, config, data):
        """A compiled Keras model for `config`; `data` carries what was fitted on the
        training split (vocabularies, normalisers...)."""

    def make_model(self, config, data):
        """`build_model` under the config's precision and XLA settings (`--mixed-precision`,
        `--jit-compile`, `apps.core.precision`): what every driver calls."""
        from apps.core.precision import build_with_precision

        return build_with_precision(lambda: self.build_model(config, data), config)

    def search_space(self, hp, config):
        """`config` with the app's own hyperparameters chosen from `hp` (a
        `keras_tuner.HyperParameters`: `config.replace(width=hp.Int("width", 8, 64))`). The tuner
        adds the choices every app shares (optimizer, learning rate, batch size, epochs) and
        trains through `build_model` and `train` (`tuner.hypermodel.ConfigHyperModel`). None by default."""
        return config

    def training_callbacks(self, data, config, run=None, callbacks=()):
        """The callbacks of one `fit`, in order: the whole-split metrics first (so every
        later callback sees their `val_*` values), the run's best-weights/resume/TensorBoard/
        CSV callbacks when there is a run folder (else the best weights kept in memory), then
        `callbacks` (e.g. the tuner's). Training ends on the best epoch's weights on `objective`."""
        ordered = []
        if self.field_metric_names and data.validation is not None:
            ordered.append(FieldMetricsCallback(self, data.validation, config))
        if run is not None:
            ordered += run.callbacks(monitor=self.objective, mode=self.objective_direction)
        elif not any(isinstance(callback, BestWeights) for callback in callbacks):
            ordered.append(BestWeights(self.objective, self.objective_direction))
        return ordered + list(callbacks)

    def train(self, model, data, config, run=None, callbacks=(), initial_epoch=0):
        """Fits the model; returns the `keras.callbacks.History` its callbacks saw, holding
        `objective`. `run` is None in tuner trials. Apps with their own loop override this
        and build their callbacks with `training_callbacks`."""
        return model.fit(
            data.train,
            validation_data=data.validation,
            epochs=config.epochs,
            initial_epoch=initial_epoch,
            shuffle=False,  # the tf.data pipeline shuffles
            callbacks=self.training_callbacks(data, config, run, callbacks),
            verbose=fit_verbosity(),
        )

    def field_metrics(self, model, dataset, config):
        """Whole-split metrics of `model` on the batched `dataset` (mAP, mean IoU, FID...),
        `{name: float}` with the names of `field_metric_names`; logged as `val_<name>`."""
        return {}

    @abc.abstractmethod
    def decode_predictions(self, predictions, model):
        """Raw model outputs → the app's answer, a dict of named outputs (classes and
        probabilities, thresholded decisions, boxes after NMS, masks, images). Written with
        `keras.ops` so it runs eagerly on every backend (evaluation) and inside the
        TensorFlow serving signatures, which return exactly this dict."""

    @abc.abstractmethod
    def evaluate(self, model, data, config, run):
        """Computes the field's standard metrics on the test split (validation if
        there is none), writes PNG plots into the run folder, returns a JSON-able dict."""

    def report(self, metrics):
        """A short human-readable summary of `metrics`."""
        return "\n".join(
            f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}"
            for key, value in metrics.items()
            if not isinstance(value, (dict, list))
        )

    # ----- serving ------------------------------------------------------------
    @abc.abstractmethod
    def serving_signatures(self, model, config):
        """`{signature_name: tf.function}`; each tf.function has an `input_signature` of
        named `tf.TensorSpec`s taking raw inputs, and returns
        `self.decode_predictions(...)`. One of them is `serving_default`. TensorFlow only."""

    def serving_rules(self, config):
        """`{signature_name: rules}` the server needs beyond the signatures: limits on the whole
        request and how its rows may be split (`serving.request_rules`). None by default."""
        return {}

    @abc.abstractmethod
    def sample_requests(self, config):
        """A few `SampleRequest`s covering every signature."""

    @abc.abstractmethod
    def request_from_cli(self, items):
        """Turns app-native CLI inputs (image paths, texts, CSV rows...) into a
        `SampleRequest`."""

    def app_descriptor(self, model, config, training):
        """What `kapps serve`'s pages need to show this model (`serving/ui.py`), written at export
        as `assets.extra/kapps_app.json`: the page to use (the app's name), the signature it calls
        and the classes (`training`: the run's training record). Apps add their own fields (image
        limits, columns, threshold...); JSON-able values only."""
        return {
            "app": self.name,
            "page": self.name,
            "title": self.title,
            "signature": "serving_default",
            "class_names": [str(name) for name in training.get("class_names", [])],
        }

    def answer_files(self, outputs, items):
        """Files `predict` writes beside the `*_bytes` outputs, built on the client from the
        answer and the user's own inputs (a mask drawn over the photo): `{file name: bytes}`,
        none by default. Name them with `apps.core.cli_inputs.output_stem`."""
        return {}

    @abc.abstractmethod
    def format_response(self, outputs, items):
        """Readable text for the outputs of a request made by `request_from_cli(items)`.
        Binary outputs (names ending in `_bytes`) are written to files by the caller."""
