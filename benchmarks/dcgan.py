"""DCGAN benchmark: FID against MNIST's test images on the app's FID classifier, and the classes generated.

    python benchmarks/dcgan.py --data files:../shared/datasets/mnist [--conditional true] [--reference] [--minutes 15]

Trains the app's default config (any field can be overridden: `--generator-width 32`) through
`App.train` for its epochs (or `--minutes` of training time), and with `--reference` the keras-io "DCGAN to
generate face images" architecture for the same time, adapted to 28×28×1: generator Dense to
7×7×128, transposed convolutions of 128 and 256 filters (4×4, stride 2, LeakyReLU 0.2), a
5×5 convolution to one channel with a sigmoid; discriminator convolutions of 64, 128 and 128
filters (4×4, stride 2, LeakyReLU 0.2), flatten, dropout 0.2, one logit; latent size 128;
both Adam(1e-4) with Keras' default beta_1; batch 128. It trains with the app's `GAN` train
step (its sigmoid image range is mapped to the app's [-1, 1] around it; keras-io's label noise
is left out). The FID classifier is the app's (`apps.dcgan.instrument`: trained apart from the
GAN once per dataset, cached, outside the budget). After every epoch: the FID of `--fid-examples`
validation images and the spread of the generated classes (scoring pauses the clock); at the
end, the test FID, the real floor (as many real training against real test images), the
classifier's test accuracy, the generated class histogram (the classifier's argmax) and, for a
conditional model, how often a sample asked for class k is classified k.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from apps.catalog import load_apps  # noqa: E402
from apps.core.config import add_config_arguments, overrides_from_args  # noqa: E402
from apps.dcgan.config import DcganConfig  # noqa: E402
from apps.dcgan.evaluation import split_scores  # noqa: E402
from apps.dcgan.model import GAN, compile_gan  # noqa: E402
from benchmarks.common import data_line  # noqa: E402

REFERENCE_LATENT = 128
REFERENCE_LEARNING_RATE = 1e-4
REFERENCE_BETA_1 = 0.9  # Keras' default: keras-io passes only the learning rate


class EpochScores(keras.callbacks.Callback):
    """After every epoch: the validation FID and the spread of generated classes (`score`), with
    the clock paused while it scores; stops training after `seconds` of training time."""

    def __init__(self, seconds, score):
        super().__init__()
        self.seconds, self.score = seconds, score
        self.trained, self.results = 0.0, []

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.trained += time.perf_counter() - self.started
        scores = self.score(self.model)
        shares = scores.generated_counts / scores.count
        self.results.append(
            {
                "epoch": epoch + 1,
                "minutes": self.trained / 60,
                "val_fid": scores.fid(),
                "min_class_share": float(shares.min()),
                "max_class_share": float(shares.max()),
            }
        )
        print(
            f"  epoch {epoch + 1:3d} {self.trained / 60:6.1f} min: validation FID {scores.fid():6.2f}, "
            f"classes {shares.min():.1%} to {shares.max():.1%} of the samples",
            flush=True,
        )
        if self.trained >= self.seconds:
            self.model.stop_training = True


def reference_generator():
    layers = keras.layers
    latent = keras.Input((REFERENCE_LATENT,), name="latent")
    x = layers.Dense(7 * 7 * 128, name="generator_dense")(latent)
    x = layers.Reshape((7, 7, 128), name="generator_reshape")(x)
    for index, filters in enumerate((128, 256)):
        x = layers.Conv2DTranspose(filters, 4, strides=2, padding="same", name=f"generator_up{index}")(x)
        x = layers.LeakyReLU(0.2, name=f"generator_lrelu{index}")(x)
    x = layers.Conv2D(1, 5, padding="same", activation="sigmoid", name="generator_images")(x)
    images = layers.Rescaling(2.0, offset=-1.0, name="generator_to_tanh_range")(x)
    return keras.Model(latent, images, name="generator")


def reference_discriminator():
    layers = keras.layers
    images = keras.Input((28, 28, 1), name="images")
    x = layers.Rescaling(0.5, offset=0.5, name="discriminator_to_unit_range")(images)
    for index, filters in enumerate((64, 128, 128)):
        x = layers.Conv2D(filters, 4, strides=2, padding="same", name=f"discriminator_down{index}")(x)
        x = layers.LeakyReLU(0.2, name=f"discriminator_lrelu{index}")(x)
    x = layers.Flatten(name="discriminator_flatten")(x)
    x = layers.Dropout(0.2, name="discriminator_dropout")(x)
    logits = layers.Dense(1, name="discriminator_logit")(x)
    return keras.Model(images, logits, name="discriminator")


def reference_gan(config, classifier, num_classes):
    model = GAN(
        reference_generator(),
        reference_discriminator(),
        classifier,
        latent_dim=REFERENCE_LATENT,
        num_classes=num_classes,
        seed=config.seed,
        name="keras_io_dcgan",
    )
    return compile_gan(
        model,
        config.replace(
            learning_rate=REFERENCE_LEARNING_RATE,
            discriminator_learning_rate=REFERENCE_LEARNING_RATE,
            beta_1=REFERENCE_BETA_1,
        ),
    )


def run(name, model, train, seconds, score):
    print(
        f"\n{name}: {model.generator.count_params():,} generator and "
        f"{model.discriminator.count_params():,} discriminator parameters",
        flush=True,
    )
    budget = EpochScores(seconds, score)
    train(model, [budget])
    return {"model": name, "epochs": budget.results}


def trained_generator(model):
    """The GAN `model` generating with its trained generator instead of their moving average."""
    return GAN(
        model.generator,
        model.discriminator,
        model.classifier,
        latent_dim=model.latent_dim,
        num_classes=model.num_classes,
        conditional=model.conditional,
        sample_images=model.sample_images,
        seed=model.seed,
        name="trained_generator",
    )


def test_scores(model, data, config):
    """The test FID, the real floor on as many real training images, and what the classifier
    makes of the generated images."""
    from apps.dcgan import fid as fid_lib
    from apps.dcgan.evaluation import split_scores
    from apps.dcgan.fid import real_moments

    scores = split_scores(model, data.test, config.fid_examples)
    floor = real_moments(model.classifier, data.info.train, scores.count)
    shares = scores.generated_counts / scores.count
    result = {
        "test_fid": scores.fid(),
        "fid_samples": scores.count,
        "real_floor": fid_lib.frechet_distance(*floor.gaussian(), *scores.real.gaussian()),
        "classifier_test_accuracy": scores.real_right / scores.count,
        "generated_class_counts": dict(zip(data.class_names, map(int, scores.generated_counts))),
    }
    print(
        f"  test FID {result['test_fid']:.2f} on {scores.count} images (real training against real test images: "
        f"{result['real_floor']:.2f}; the classifier scores {result['classifier_test_accuracy']:.2%} on them)"
    )
    print(
        "  generated classes: "
        + ", ".join(
            f"{name}: {count} ({share:.1%})"
            for (name, count), share in zip(result["generated_class_counts"].items(), shares)
        )
    )
    if model.conditional:
        per_class = scores.accuracy_per_requested_class()
        result["generated_label_accuracy"] = scores.generated_right / scores.count
        result["generated_label_accuracy_per_class"] = dict(zip(data.class_names, map(float, per_class)))
        print(
            f"  samples classified as the class asked for: {result['generated_label_accuracy']:.1%}; per class: "
            + ", ".join(f"{name}: {accuracy:.1%}" for name, accuracy in zip(data.class_names, per_class))
        )
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser, DcganConfig)
    parser.set_defaults(config__data="files:../shared/datasets/mnist")
    parser.add_argument("--reference", action="store_true", help="also train the keras-io DCGAN")
    parser.add_argument(
        "--minutes",
        type=float,
        default=0.0,
        help="stop each model after this much training time (0: after the config's epochs)",
    )
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    app = load_apps().get("dcgan")
    config = DcganConfig(**overrides_from_args(args)).validate()
    keras.utils.set_random_seed(config.seed)
    data = app.load_data(config)
    print(data_line(data))
    started = time.perf_counter()
    instrument = app.fid_instrument(config)  # trained once per dataset (or read from the cache), outside the budget
    print(f"FID classifier ready in {time.perf_counter() - started:.0f} s")
    model = app.build_model(config, data)
    seconds = args.minutes * 60 or float("inf")

    def score(gan):
        return split_scores(gan, data.validation, config.fid_examples)

    results = [
        run(
            f"the dcgan app (widths {config.generator_width}/{config.discriminator_width})",
            model,
            lambda gan, callbacks: app.train(
                gan, data, config.replace(epochs=10_000) if args.minutes else config, callbacks=callbacks
            ),
            seconds,
            score,
        )
    ]
    results[0].update(test_scores(model, data, config))
    if model.ema_generator is not None:
        print("  the same run's trained generator, without the moving average:")
        results[0]["without_average"] = test_scores(trained_generator(model), data, config)
    if args.reference:
        reference = reference_gan(config, instrument.classifier, len(data.class_names))
        results.append(
            run(
                "keras-io DCGAN (28x28)",
                reference,
                lambda gan, callbacks: gan.fit(
                    data.train, epochs=10_000 if args.minutes else config.epochs, verbose=0, callbacks=callbacks
                ),
                seconds,
                score,
            )
        )
        results[1].update(test_scores(reference, data, config))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {
                    "instrument": {"test_accuracy": instrument.accuracy, "real_floor": instrument.real_floor},
                    "models": results,
                },
                handle,
                indent=2,
            )


if __name__ == "__main__":
    main()
