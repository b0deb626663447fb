"""DCGAN benchmark: FID against MNIST's test images after equal wall-clock budgets.

    python benchmarks/dcgan.py --data files:../shared/datasets/mnist --reference [--minutes 15]

Trains the app's default config (any field can be overridden: `--generator-width 32`) through
`App.train` for `--minutes` of training time, and with `--reference` the keras-io "DCGAN to
generate face images" architecture for the same time, adapted to 28×28×1: generator Dense to
7×7×128, transposed convolutions of 128 and 256 filters (4×4, stride 2, LeakyReLU 0.2), a
5×5 convolution to one channel with a sigmoid; discriminator convolutions of 64, 128 and 128
filters (4×4, stride 2, LeakyReLU 0.2), flatten, dropout 0.2, one logit; latent size 128;
both Adam(1e-4) with Keras' default beta_1; batch 128. It trains with the app's `GAN` train
step (its sigmoid image range is mapped to the app's [-1, 1] around it; keras-io's label noise
is left out). Both are scored by the app's FID (the same classifier, trained once on the
training split, outside the budget) on `--fid-examples` test images at several points of the
budget; scoring pauses the clock.
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
from apps.dcgan.evaluation import split_fid  # noqa: E402
from apps.dcgan.model import GAN, compile_gan  # noqa: E402
from benchmarks.common import data_line  # noqa: E402

CHECKPOINT_FRACTIONS = (1 / 15, 2 / 15, 5 / 15, 10 / 15, 1.0)
REFERENCE_LATENT = 128
REFERENCE_LEARNING_RATE = 1e-4
REFERENCE_BETA_1 = 0.9  # Keras' default: keras-io passes only the learning rate


class WallClockBudget(keras.callbacks.Callback):
    """Stops training after `seconds` of training time and scores the test FID at the
    `checkpoints` (seconds) on the way, with the clock paused while it scores."""

    def __init__(self, seconds, checkpoints, score):
        super().__init__()
        self.seconds, self.pending, self.score = seconds, sorted(checkpoints), score
        self.trained, self.results = 0.0, []

    def on_train_begin(self, logs=None):
        self.started = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        elapsed = self.trained + time.perf_counter() - self.started
        if self.pending and elapsed >= self.pending[0]:
            self.pending.pop(0)
            scored_at = time.perf_counter()
            fid = self.score(self.model)
            self.results.append({"minutes": elapsed / 60, "fid": fid})
            print(f"  {elapsed / 60:6.2f} min: FID {fid:.2f} (scored in {time.perf_counter() - scored_at:.0f} s)",
                  flush=True)
            self.trained, self.started = elapsed, time.perf_counter()
        if elapsed >= self.seconds:
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
    model = GAN(reference_generator(), reference_discriminator(), classifier, latent_dim=REFERENCE_LATENT,
                num_classes=num_classes, seed=config.seed, name="keras_io_dcgan")
    return compile_gan(model, config.replace(learning_rate=REFERENCE_LEARNING_RATE,
                                             discriminator_learning_rate=REFERENCE_LEARNING_RATE,
                                             beta_1=REFERENCE_BETA_1))


def run(name, model, train, seconds, score):
    print(f"\n{name}: {model.generator.count_params():,} generator and "
          f"{model.discriminator.count_params():,} discriminator parameters", flush=True)
    budget = WallClockBudget(seconds, [fraction * seconds for fraction in CHECKPOINT_FRACTIONS], score)
    train(model, [budget])
    return {"model": name, "checkpoints": budget.results}


def real_floor(model, data, config):
    """FID of real training images against the real test images the models are scored on."""
    from apps.dcgan import fid as fid_lib
    from apps.dcgan.evaluation import real_moments, split_scores

    real = split_scores(model, data.test, config.fid_examples)
    train = real_moments(model.classifier, data.info["train"], real.count)
    return fid_lib.frechet_distance(*train.gaussian(), *real.real.gaussian())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser, DcganConfig)
    parser.set_defaults(config__data="files:../shared/datasets/mnist")
    parser.add_argument("--reference", action="store_true", help="also train the keras-io DCGAN")
    parser.add_argument("--minutes", type=float, default=15.0, help="training time of each model")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    app = load_apps().get("dcgan")
    config = DcganConfig(**overrides_from_args(args)).validate()
    keras.utils.set_random_seed(config.seed)
    data = app.load_data(config)
    print(f"{data_line(data)}; FID on {min(config.fid_examples, data.test_examples)} test images")
    started = time.perf_counter()
    model = app.build_model(config, data)  # trains the FID classifier, outside the budget
    print(f"FID classifier trained in {time.perf_counter() - started:.0f} s")
    seconds = args.minutes * 60

    def score(gan):
        return split_fid(gan, data.test, config.fid_examples)

    many_epochs = config.replace(epochs=10_000)  # the budget stops training
    results = [run(f"kapps dcgan (widths {config.generator_width}/{config.discriminator_width})", model,
                   lambda gan, callbacks: app.train(gan, data, many_epochs, callbacks=callbacks), seconds, score)]
    if args.reference:
        reference = reference_gan(config, model.classifier, len(data.class_names))
        results.append(run("keras-io DCGAN (28x28)", reference,
                           lambda gan, callbacks: gan.fit(data.train, epochs=10_000, verbose=0, callbacks=callbacks),
                           seconds, score))

    print(f"\n{'minutes':>8} " + " ".join(f"{result['model'][:28]:>28}" for result in results))
    for row in range(max(len(result["checkpoints"]) for result in results)):
        cells = [result["checkpoints"][row] if row < len(result["checkpoints"]) else None for result in results]
        minutes = next(cell["minutes"] for cell in cells if cell)
        print(f"{minutes:>8.1f} " + " ".join(f"{cell['fid']:>28.2f}" if cell else f"{'-':>28}" for cell in cells))
    print(f"Real training images against real test images (the floor): FID {real_floor(model, data, config):.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
