"""Digits benchmark: test accuracy, seconds per epoch and wall time to 99.22% on MNIST.

    python benchmarks/digits.py --data files:../shared/datasets/mnist [--reference]

Trains the app's default config (any field can be overridden: `--epochs 12`) on
all of MNIST's 60k training images less the validation hold-out (the 10k test
images are only evaluated, after each epoch, outside the timed part). `--reference`
also trains the keras-io MNIST convnet (two 3×3 convs of 32 and 64 filters each followed by 2×2 max-pooling, flatten,
dropout 0.5, dense softmax; Adam, batch 128, 15 epochs, no augmentation) on the
same data in the same process, so the speed comparison is a ratio on one machine.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from apps.catalog import load_apps  # noqa: E402
from apps.core.config import add_config_arguments, overrides_from_args  # noqa: E402
from apps.digits.config import DigitsConfig  # noqa: E402
from benchmarks.common import EpochClock, data_line  # noqa: E402

KERAS_IO_ACCURACY = 0.9922


class ScoringEpochClock(EpochClock):
    """Times training epochs and scores the test split after each, untimed."""

    def __init__(self, test, target):
        super().__init__()
        self.test, self.target = test, target
        self.test_accuracy = []
        self.seconds_to_target = None

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch, logs)
        accuracy = self.model.evaluate(self.test, verbose=0, return_dict=True)["accuracy"]
        self.test_accuracy.append(float(accuracy))
        if self.seconds_to_target is None and accuracy >= self.target:
            self.seconds_to_target = sum(self.seconds)
        print(f"  epoch {epoch + 1}: {self.seconds[-1]:.1f} s, test accuracy {accuracy:.4f}", flush=True)


def keras_io_convnet():
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(10, activation="softmax"),
        ],
        name="keras_io_convnet",
    )
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def run(name, model, data, epochs, target, train):
    """Trains with `train(model, data, callbacks)` and times every epoch."""
    print(f"\n{name}: {model.count_params():,} parameters, {epochs} epochs", flush=True)
    clock = ScoringEpochClock(data.test, target)
    train(model, data, [clock])
    return {
        "model": name,
        # The weights training hands over (for kapps, its best validation epoch's).
        "final_test_accuracy": float(model.evaluate(data.test, verbose=0, return_dict=True)["accuracy"]),
        "last_epoch_test_accuracy": clock.test_accuracy[-1],
        "best_test_accuracy": max(clock.test_accuracy),
        "seconds_per_epoch": float(np.mean(clock.seconds)),
        "seconds_to_target": clock.seconds_to_target,
        "total_train_seconds": sum(clock.seconds),
        "test_accuracy_per_epoch": clock.test_accuracy,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser, DigitsConfig)
    parser.set_defaults(config__data="files:../shared/datasets/mnist")
    parser.add_argument("--reference", action="store_true", help="also train the keras-io convnet")
    parser.add_argument("--reference-epochs", type=int, default=15)
    parser.add_argument("--target", type=float, default=KERAS_IO_ACCURACY)
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    app = load_apps().get("digits")
    config = DigitsConfig(**overrides_from_args(args)).validate()
    keras.utils.set_random_seed(config.seed)
    data = app.load_data(config)
    print(data_line(data))
    results = [
        run(
            f"kapps digits {config.model} (width {config.width})",
            app.build_model(config, data),
            data,
            config.epochs,
            args.target,
            lambda model, data, callbacks: app.train(model, data, config, callbacks=callbacks),
        )
    ]
    if args.reference:
        plain = app.load_data(config.replace(augment=False, batch_size=128))
        results.append(
            run(
                "keras-io convnet",
                keras_io_convnet(),
                plain,
                args.reference_epochs,
                args.target,
                lambda model, data, callbacks: model.fit(
                    data.train,
                    validation_data=data.validation,
                    epochs=args.reference_epochs,
                    verbose=0,
                    callbacks=callbacks,
                ),
            )
        )

    print(f"\n{'model':<34} {'test acc':>8} {'s/epoch':>8} {'s to ' + format(args.target, '.2%'):>12} {'total s':>8}")
    for result in results:
        to_target = result["seconds_to_target"]
        print(
            f"{result['model']:<34} {result['final_test_accuracy']:>8.4f} {result['seconds_per_epoch']:>8.1f} "
            f"{(f'{to_target:.0f}' if to_target else 'never'):>12} {result['total_train_seconds']:>8.0f}"
        )
    if args.reference:
        ours, reference = results[0]["seconds_to_target"], results[1]["total_train_seconds"]
        verdict = (
            (f"{ours:.0f} s against {reference:.0f} s: " + ("goal met" if ours < reference else "goal NOT met"))
            if ours
            else "never reached"
        )
        print(
            f"\nTime for kapps to reach {args.target:.2%} vs the keras-io convnet's "
            f"{args.reference_epochs} epochs: {verdict}."
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
