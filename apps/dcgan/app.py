"""The DCGAN app: generate images, on every backend, measured by FID, served as PNGs."""

import sys

import keras
import numpy as np

from apps.core.app import App, SampleRequest
from apps.core.console import fit_verbosity
from apps.core.decode_checks import data_errors_as_source_errors
from apps.core.errors import InputError
from apps.dcgan import data as gan_data
from apps.dcgan.config import DcganConfig
from apps.dcgan.evaluation import SampleGridCallback, evaluate_gan, split_fid
from apps.dcgan.instrument import instrument_for
from apps.dcgan.model import build_gan
from apps.dcgan.signatures import ANY_LABEL, make_signatures, serving_rules

# `kapps dcgan predict` items are `name=value` pairs (the CLI's --seed/--count/--label flags).
PREDICT_DEFAULTS = {"seed": 0, "count": 16, "label": ANY_LABEL}


def _around(value):
    """Half, the same and twice `value`: a search range that scales with the config."""
    return sorted({max(1, value // 2), value, value * 2})


def search_space(hp, config):
    """Widths, learning rates and latent size around the config's values (Adam throughout)."""
    return config.replace(
        optimizer=hp.Fixed("optimizer", config.optimizer),
        generator_width=hp.Choice("generator_width", _around(config.generator_width)),
        discriminator_width=hp.Choice("discriminator_width", _around(config.discriminator_width)),
        latent_dim=hp.Choice("latent_dim", _around(config.latent_dim)),
        learning_rate=hp.Float("learning_rate", config.learning_rate / 4, config.learning_rate * 4, sampling="log"),
        discriminator_learning_rate=hp.Float(
            "discriminator_learning_rate",
            config.discriminator_learning_rate / 4,
            config.discriminator_learning_rate * 4,
            sampling="log",
        ),
    )


def parse_predict_items(items):
    """`["seed=1", "count=16", "label=7"]` → `{"seed": 1, "count": 16, "label": 7}` (defaults
    for what is left out); `InputError` naming what is wrong."""
    values = dict(PREDICT_DEFAULTS)
    for item in items:
        name, separator, text = item.partition("=")
        if not separator or name not in PREDICT_DEFAULTS:
            raise InputError(
                f"{item!r}: the dcgan app takes seed=N, count=N and label=N "
                "(or --seed, --count, --label), e.g. `kapps dcgan predict --count 16 --seed 1`."
            )
        try:
            values[name] = int(text)
        except ValueError:
            raise InputError(f"{item!r}: {name} must be an integer.") from None
    return values


class DcganApp(App):
    name = "dcgan"
    title = "Image generation (DCGAN, measured by FID)"
    config_class = DcganConfig
    default_tfds_name = "mnist"
    objective = "val_fid"
    objective_direction = "min"
    field_metric_names = ("fid",)
    record_features = gan_data.RECORD_FEATURES
    known_limits = (
        "FID is computed on the features of the app's own small classifier of the dataset's classes (trained apart "
        "from the GAN, cached per dataset), not Inception's: compare it across runs of this app on the same "
        "dataset, not with published FIDs; next to `fid_real_floor` (real against real images) and only when "
        "`fid_classifier_accuracy` is at least 0.95 (below, the run warns).",
        "Generates images like its training set only; a folder of images without class sub-folders trains the "
        "FID classifier on one class, so its FID says little.",
    )

    def tiny_config(self):
        """256 builtin digits, narrow networks, one epoch, a classifier trained one epoch."""
        return DcganConfig(
            data="builtin",
            epochs=1,
            batch_size=64,
            max_examples=256,
            validation_fraction=0.25,
            latent_dim=16,
            generator_width=8,
            discriminator_width=8,
            sample_images=16,
            fid_classifier_width=8,
            fid_classifier_epochs=1,
            fid_examples=128,
            field_metrics_examples=64,
            max_images=64,
            seed=7,
        )

    # ----- data ---------------------------------------------------------------------
    def load_tfds(self, name, config):
        return gan_data.load_tfds(name, config)

    def load_files(self, path, config):
        return gan_data.load_files(path, config)

    def load_builtin(self, config):
        return gan_data.load_builtin(config)

    def splits_from_raw(self, raw, config):
        return gan_data.splits_from_raw(raw, config)

    # ----- model --------------------------------------------------------------------
    def fid_instrument(self, config):
        """The classifier whose features FID uses and its test accuracy and real-vs-real floor
        (`apps.dcgan.instrument`): trained apart from the GAN once per dataset and classifier
        settings, then read from the cache (tuner trials and reruns share it, so their FIDs compare)."""
        with data_errors_as_source_errors():
            return instrument_for(self, config)

    def fid_classifier(self, config, data):
        return self.fid_instrument(config).classifier

    def make_model(self, config, data):
        """The FID classifier trained first, in float32 whatever `--mixed-precision` says (a measuring
        instrument), then the GAN under the config's precision (`App.make_model`)."""
        self.fid_classifier(config, data)
        return super().make_model(config, data)

    def build_model(self, config, data):
        return build_gan(config, max(len(data.class_names), 1), self.fid_classifier(config, data))

    search_space = staticmethod(search_space)

    def train(self, model, data, config, run=None, callbacks=(), initial_epoch=0):
        """`fit` with the GAN's own `train_step` (no validation losses: the validation split
        is for `val_fid`); with a run folder, a sample grid per epoch in `samples/`."""
        # The grid before the run's backup, so a resumed run has every epoch's grid.
        grid = [] if run is None else [SampleGridCallback(run, self.decode_predictions)]
        with data_errors_as_source_errors():
            return model.fit(
                data.train,
                epochs=config.epochs,
                initial_epoch=initial_epoch,
                shuffle=False,
                callbacks=[*grid, *self.training_callbacks(data, config, run, callbacks)],
                verbose=fit_verbosity(),
            )

    def field_metrics(self, model, dataset, config):
        return {"fid": split_fid(model, dataset, sys.maxsize)}

    def decode_predictions(self, predictions, model):
        """Generator outputs in [-1, 1] → `images`, uint8 in [0, 255]."""
        scaled = keras.ops.clip(keras.ops.round((predictions + 1.0) * 127.5), 0.0, 255.0)
        return {"images": keras.ops.cast(scaled, "uint8")}

    def evaluate(self, model, data, config, run):
        with data_errors_as_source_errors():
            return evaluate_gan(model, data, config, run, self.decode_predictions)

    def report(self, metrics):
        lines = [super().report(metrics)]
        if "generated_class_counts" in metrics:
            lines.append(
                "generated classes: "
                + ", ".join(f"{name}: {count}" for name, count in metrics["generated_class_counts"].items())
            )
        if "fid" in metrics and "fid_classifier_accuracy" in metrics:
            lines.append(
                f"FID {metrics['fid']:.2f} on {metrics['fid_samples']} images; the classifier it uses scores "
                f"{metrics['fid_classifier_accuracy']:.2%} on them, real training images against the same "
                f"real images: {metrics['fid_real_floor']:.2f} (the floor)"
            )
        if metrics.get("fid_warning"):
            lines.append(metrics["fid_warning"])
        return "\n".join(lines)

    # ----- serving ------------------------------------------------------------------
    def serving_signatures(self, model, config):
        return make_signatures(model, self.decode_predictions, config.max_images)

    def app_descriptor(self, model, config, training):
        """The page asks `serve_seed` for a grid: seed, count (up to `max_images`) and, for a
        conditional generator, a class (`any_label`: the classes in turn)."""
        return {
            **super().app_descriptor(model, config, training),
            "signature": "serve_seed",
            "conditional": bool(model.conditional),
            "any_label": ANY_LABEL,
            "max_images": config.max_images,
        }

    def serving_rules(self, config):
        return serving_rules(config.max_images)

    def sample_requests(self, config):
        latent = np.random.default_rng(config.seed).standard_normal((3, config.latent_dim)).astype(np.float32)
        default_inputs = {"latent": latent}
        if config.conditional:
            default_inputs["labels"] = np.array([0, 1, 0], dtype=np.int64)
        seed_inputs = {
            "seed": np.array([1, 2], dtype=np.int64),
            "count": np.array([4, 4], dtype=np.int32),
            "label": np.array([ANY_LABEL, 1 if config.conditional else ANY_LABEL], dtype=np.int64),
        }
        return [SampleRequest("serving_default", default_inputs), SampleRequest("serve_seed", seed_inputs)]

    def request_from_cli(self, items):
        values = parse_predict_items(items)
        return SampleRequest(
            "serve_seed",
            {
                "seed": np.array([values["seed"]], dtype=np.int64),
                "count": np.array([values["count"]], dtype=np.int32),
                "label": np.array([values["label"]], dtype=np.int64),
            },
        )

    def format_response(self, outputs, items):
        values = parse_predict_items(items)
        images = np.asarray(outputs["images"])
        label = "any class" if values["label"] == ANY_LABEL else f"class {values['label']}"
        return (
            f"Generated {images.shape[1]} images of {images.shape[2]}x{images.shape[3]} pixels "
            f"(seed {values['seed']}, {label})."
        )
