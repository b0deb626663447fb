"""Segmentation benchmark: test mean IoU, per-class IoU and pixel accuracy for a wall-clock budget.

    python benchmarks/segmentation.py \\
        --data files:../shared/datasets/oxford_pets_subset/oxford_pets_subset_seg_128.npz --reference
    python benchmarks/segmentation.py --data files:../shared/datasets/pennfudan/pennfudan_seg_128.npz \\
        --test-size 50

Trains the app's default config (any field can be overridden: `--epochs 40 --width 24`)
through `App.train` on the training split less the validation hold-out (the Oxford
subset: the 300 `trainval` images; Penn-Fudan: the first 120), and evaluates the test
split once, after training (the 298 Oxford `test` images; the last 50 Penn-Fudan
images). Training stops early if it reaches `--minutes`. `--reference` then trains
the keras-io "Image segmentation with a U-Net-like architecture" network on the same
images for the same wall-clock time, in the same process: an Xception-style U-Net
(a strided 3×3 stem of 32 filters; three downsampling stages of 64, 128 and 256
filters, each two ReLU → separable 3×3 convolution → batch norm, then 3×3 max-pooling
with stride 2, plus a strided 1×1 convolution residual; four upsampling stages of 256,
128, 64 and 32 filters, each two ReLU → transposed 3×3 convolution → batch norm, then
2× upsampling, plus an upsampled 1×1 convolution residual; a 3×3 softmax classifier),
Adam at 1e-4, sparse cross-entropy, batch 32, no augmentation, images scaled to [0, 1].
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
from apps.segmentation.config import SegmentationConfig  # noqa: E402
from apps.segmentation.evaluation import confusion_matrix, scores  # noqa: E402
from benchmarks.common import TimeLimit, data_line  # noqa: E402

PETS = "files:../shared/datasets/oxford_pets_subset/oxford_pets_subset_seg_128.npz"
GOAL_MEAN_IOU = 0.60


def keras_io_unet(image_size, num_classes):
    """The keras-io Xception-style U-Net (see the module docstring), written from its description."""
    layers = keras.layers
    inputs = keras.Input((image_size, image_size, 3))
    x = layers.Rescaling(1.0 / 255)(inputs)
    x = layers.Conv2D(32, 3, strides=2, padding="same")(x)
    x = layers.Activation("relu")(layers.BatchNormalization()(x))
    previous = x
    for filters in (64, 128, 256):
        for _ in range(2):
            x = layers.Activation("relu")(x)
            x = layers.BatchNormalization()(layers.SeparableConv2D(filters, 3, padding="same")(x))
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = layers.add([x, layers.Conv2D(filters, 1, strides=2, padding="same")(previous)])
        previous = x
    for filters in (256, 128, 64, 32):
        for _ in range(2):
            x = layers.Activation("relu")(x)
            x = layers.BatchNormalization()(layers.Conv2DTranspose(filters, 3, padding="same")(x))
        x = layers.UpSampling2D(2)(x)
        x = layers.add([x, layers.Conv2D(filters, 1, padding="same")(layers.UpSampling2D(2)(previous))])
        previous = x
    outputs = layers.Conv2D(num_classes, 3, activation="softmax", padding="same")(x)
    model = keras.Model(inputs, outputs, name="keras_io_unet")
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    return model


def test_scores(app, model, data, config):
    decode = lambda probabilities: app.decode_predictions(probabilities, model)  # noqa: E731
    matrix = confusion_matrix(model, data.test, len(data.class_names), config.ignore_class, decode)
    return scores(matrix, data.class_names)


def run(name, model, train, seconds):
    """Trains with `train(model, callbacks)` until done or `seconds` pass; returns the wall time."""
    print(f"\n{name}: {model.count_params():,} parameters", flush=True)
    limit = TimeLimit(seconds, show=lambda key: "iou" in key or key == "loss")
    started = time.perf_counter()
    train(model, [limit])
    return time.perf_counter() - started, limit.epochs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser, SegmentationConfig)
    parser.set_defaults(config__data=PETS)
    parser.add_argument("--reference", action="store_true", help="also train the keras-io U-Net, same time")
    parser.add_argument("--minutes", type=float, default=20.0, help="wall-clock budget of each training")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()

    app = load_apps().get("segmentation")
    config = SegmentationConfig(**overrides_from_args(args)).validate()
    keras.utils.set_random_seed(config.seed)
    data = app.load_data(config)
    print(f"{data_line(data)}, classes {data.class_names}")
    model = app.build_model(config, data)
    seconds, epochs = run(
        f"kapps segmentation {config.model} (width {config.width}, depth {config.depth})",
        model,
        lambda model, callbacks: app.train(model, data, config, callbacks=callbacks),
        args.minutes * 60,
    )
    results = [
        {
            "model": f"kapps {config.model}",
            "train_seconds": seconds,
            "epochs": epochs,
            **test_scores(app, model, data, config),
        }
    ]
    if args.reference:
        plain = app.load_data(config.replace(augment=False, batch_size=32))
        reference = keras_io_unet(config.image_size, len(data.class_names))
        reference_seconds, reference_epochs = run(
            "keras-io U-Net",
            reference,
            lambda model, callbacks: model.fit(
                plain.train, validation_data=plain.validation, epochs=10_000, verbose=0, callbacks=callbacks
            ),
            seconds,
        )
        results.append(
            {
                "model": "keras-io U-Net",
                "train_seconds": reference_seconds,
                "epochs": reference_epochs,
                **test_scores(app, reference, plain, config),
            }
        )

    print(f"\n{'model':<22} {'mean IoU':>8} {'pixel acc':>9} {'epochs':>6} {'train s':>8}  per-class IoU")
    for result in results:
        per_class = ", ".join(f"{name} {value:.3f}" for name, value in result["per_class_iou"].items())
        print(
            f"{result['model']:<22} {result['mean_iou']:>8.4f} {result['pixel_accuracy']:>9.4f} "
            f"{result['epochs']:>6} {result['train_seconds']:>8.0f}  {per_class}"
        )
    ours = results[0]
    verdict = "met" if ours["mean_iou"] >= GOAL_MEAN_IOU and ours["train_seconds"] <= 20 * 60 else "NOT met"
    print(
        f"\nGoal (mean IoU >= {GOAL_MEAN_IOU} within 20 minutes): {verdict}"
        + (f"; keras-io U-Net at equal time: {results[1]['mean_iou']:.4f}" if args.reference else "")
    )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
