"""DCGAN evaluation: FID against real images, class coverage, and the PNG/GIF figures."""

from pathlib import Path

import keras
import numpy as np

from apps.core import tensorboard
from apps.core.plots import plot_series, plt
from apps.dcgan import fid as fid_lib
from apps.dcgan.grid import grid_columns, tile_images
from apps.dcgan.instrument import WEAK_ACCURACY

SAMPLES_FOLDER = "samples"
INTERPOLATION_ROWS = 8
INTERPOLATION_STEPS = 10
GIF_FRAME_MILLISECONDS = 400
INTERPOLATION_CAPTION = {
    False: "Each row walks from one fixed noise vector to another (spherical interpolation)",
    True: "The same walk between two noise vectors in every class's row (spherical interpolation)",
}
# A class "appears" in the samples when at least this share of them is classified as it.
COVERAGE_SHARE = 0.01
FID_LAYER = f"classifier/{fid_lib.FEATURES_LAYER}"
# Sample grids: each generated pixel drawn GRID_SCALE × GRID_SCALE, a caption band above.
GRID_SCALE = 3
GRID_DPI = 100
CAPTION_HEIGHT = 44
CAPTION_MIN_WIDTH = 360


def grid_image(model, images, decode):
    """The uint8 grid of generator outputs `images` (one row per class when conditional)."""
    images = keras.ops.convert_to_numpy(decode(images, model)["images"])
    classes = model.num_classes if model.conditional else None
    return tile_images(images, grid_columns(len(images), classes)).numpy()


def grid_caption(model, epochs):
    """What a sample grid shows, in a sentence."""
    rows = "; one row per class, the first at the top" if model.conditional else ""
    return f"{model.sample_images} images from the fixed noise after {epochs} epoch(s){rows}"


def plot_grid(grid, path, caption):
    """A tiled uint8 grid `[H, W, C]` saved `GRID_SCALE` times larger (each pixel a square)
    with `caption` above it."""
    grid = np.asarray(grid, np.uint8)
    height, width = grid.shape[0] * GRID_SCALE, max(grid.shape[1] * GRID_SCALE, CAPTION_MIN_WIDTH)
    figure = plt.figure(figsize=(width / GRID_DPI, (height + CAPTION_HEIGHT) / GRID_DPI), dpi=GRID_DPI)
    axis = figure.add_axes((0, 0, 1, height / (height + CAPTION_HEIGHT)))
    axis.imshow(grid[..., 0] if grid.shape[-1] == 1 else grid, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    axis.axis("off")
    figure.text(
        0.5,
        1 - CAPTION_HEIGHT / 2 / (height + CAPTION_HEIGHT),
        caption,
        ha="center",
        va="center",
        fontsize=9,
        wrap=True,
    )
    figure.savefig(path, dpi=GRID_DPI, facecolor="white")
    plt.close(figure)
    return Path(path)


class SampleGridCallback(keras.callbacks.Callback):
    """After every epoch, the fixed noise's images: `samples/epoch_NNN.png` (captioned) and the
    grid in TensorBoard (`logs/samples`, tag `generated`, the epoch as step)."""

    def __init__(self, run, decode):
        super().__init__()
        self.run = run
        self.folder = Path(run.path) / SAMPLES_FOLDER
        self.decode = decode
        self.writer = None

    def on_train_begin(self, logs=None):
        self.writer = tensorboard.writer(self.run, tensorboard.SAMPLES_FOLDER)

    def on_epoch_end(self, epoch, logs=None):
        image = grid_image(self.model, self.model.fixed_samples(), self.decode)
        self.folder.mkdir(parents=True, exist_ok=True)
        plot_grid(image, self.folder / f"epoch_{epoch + 1:03d}.png", grid_caption(self.model, epoch + 1))
        tensorboard.write_image(
            self.writer, "generated", np.repeat(np.repeat(image, GRID_SCALE, 0), GRID_SCALE, 1), epoch + 1
        )

    def on_train_end(self, logs=None):
        self.writer.close()


class SplitScores:
    """What the FID evaluation accumulates over a split's batches: the moments of the real and
    generated images' features, the generated images' classes, and how often the classifier
    is right about the real images and about the labels the generated ones were asked for."""

    def __init__(self, num_classes):
        self.real, self.generated = fid_lib.FeatureMoments(), fid_lib.FeatureMoments()
        self.generated_counts = np.zeros(max(num_classes, 1), np.int64)
        self.requested_counts = np.zeros(max(num_classes, 1), np.int64)
        self.requested_right = np.zeros(max(num_classes, 1), np.int64)
        self.real_right = self.generated_right = self.count = 0

    def update(self, classifier, generated, real, labels):
        generated_features, generated_probabilities = fid_lib.classify(classifier, generated)
        real_features, real_probabilities = fid_lib.classify(classifier, real)
        self.generated.update(generated_features)
        self.real.update(real_features)
        predicted = np.argmax(generated_probabilities, axis=-1)
        self.generated_counts += np.bincount(predicted, minlength=len(self.generated_counts))
        self.generated_right += int(np.sum(predicted == labels))
        self.requested_counts += np.bincount(labels, minlength=len(self.requested_counts))
        self.requested_right += np.bincount(labels[predicted == labels], minlength=len(self.requested_right))
        self.real_right += int(np.sum(np.argmax(real_probabilities, axis=-1) == labels))
        self.count += len(labels)

    def fid(self):
        return fid_lib.frechet_distance(*self.generated.gaussian(), *self.real.gaussian())

    def accuracy_per_requested_class(self):
        """For each class, the share of the images generated for it that the classifier calls it."""
        return self.requested_right / np.maximum(self.requested_counts, 1)


def split_scores(model, dataset, examples):
    """`SplitScores` of the first `examples` examples of the batched `dataset`, generated for the
    same labels from noise seeded by the model's seed (so the same weights always score the
    same); one batch of images in memory at a time."""
    noise = np.random.default_rng(model.seed)
    scores = SplitScores(model.num_classes)
    for inputs, images in dataset:
        labels = keras.ops.convert_to_numpy(inputs["labels"])
        latent = noise.standard_normal((len(labels), model.latent_dim)).astype("float32")
        generated = keras.ops.convert_to_numpy(model({"latent": latent, "labels": labels}, training=False))
        kept = min(len(labels), examples - scores.count)
        scores.update(model.classifier, generated[:kept], keras.ops.convert_to_numpy(images)[:kept], labels[:kept])
        if scores.count >= examples:
            break
    return scores


def split_fid(model, dataset, examples):
    """FID of generated against real images of a split, on up to `examples` of each."""
    return split_scores(model, dataset, examples).fid()


def evaluate_gan(model, data, config, run, decode):
    """FID of generated images against the test split (validation if there is none), the
    floor (real training images against the same real images), the classifier's accuracy on
    those real images (with a warning when it is under `WEAK_ACCURACY`), the classes it sees in
    the generated images, and the figures; accumulated batch by batch."""
    split_name, split = data.evaluation_split()
    scores = split_scores(model, split, config.fid_examples)
    floor = fid_lib.real_moments(model.classifier, data.info.train, scores.count)
    counts = scores.generated_counts
    metrics = {
        "split": split_name,
        "fid": scores.fid(),
        "fid_samples": scores.count,
        "fid_real_floor": fid_lib.frechet_distance(*floor.gaussian(), *scores.real.gaussian()),
        "fid_layer": FID_LAYER,
        "fid_classifier_accuracy": scores.real_right / scores.count,
        "classes_covered": int(np.sum(counts >= COVERAGE_SHARE * scores.count)),
        "generated_class_counts": {name: int(count) for name, count in zip(data.class_names, counts)},
    }
    if metrics["fid_classifier_accuracy"] < WEAK_ACCURACY:
        metrics["fid_warning"] = (
            f"Warning: the FID classifier scores {metrics['fid_classifier_accuracy']:.1%} on the "
            f"{split_name} images, under {WEAK_ACCURACY:.0%}: this FID says little."
        )
    if model.conditional:
        metrics["generated_label_accuracy"] = scores.generated_right / scores.count
        metrics["generated_label_accuracy_per_class"] = {
            name: float(accuracy) for name, accuracy in zip(data.class_names, scores.accuracy_per_requested_class())
        }
    return {**metrics, "plots": [str(path) for path in write_figures(model, run, decode)]}


def write_figures(model, run, decode):
    """`sample_grid.png`, `interpolation.png`, `loss_curves.png` and `samples.gif`."""
    history = run.load_history()
    paths = [
        plot_grid(
            grid_image(model, model.fixed_samples(), decode),
            run.plot_path("sample_grid"),
            grid_caption(model, len(history.get("d_loss", []))),
        ),
        plot_grid(
            interpolation_image(model, decode),
            run.plot_path("interpolation"),
            INTERPOLATION_CAPTION[bool(model.conditional)],
        ),
    ]
    if "d_loss" in history:
        paths.append(plot_losses(history, run.plot_path("loss_curves")))
    gif = write_gif(sorted((run.path / SAMPLES_FOLDER).glob("epoch_*.png")), run.path / "samples.gif")
    return paths + ([gif] if gif else [])


def slerp(start, end, fractions):
    """Spherical interpolation between two latent vectors (White, 2016)."""
    cosine = np.dot(start, end) / (np.linalg.norm(start) * np.linalg.norm(end))
    angle = np.arccos(np.clip(cosine, -1.0, 1.0))
    if angle < 1e-6:
        return np.stack([(1 - t) * start + t * end for t in fractions])
    return np.stack([(np.sin((1 - t) * angle) * start + np.sin(t * angle) * end) / np.sin(angle) for t in fractions])


def interpolation_image(model, decode):
    """Rows that walk the latent space between two fixed noise vectors each; with
    `conditional`, one row per class between the same two vectors."""
    fixed = keras.ops.convert_to_numpy(model.fixed_latent)
    fractions = np.linspace(0.0, 1.0, INTERPOLATION_STEPS)
    if model.conditional:
        rows = [slerp(fixed[0], fixed[1], fractions)] * model.num_classes
        labels = np.repeat(np.arange(model.num_classes), INTERPOLATION_STEPS)
    else:
        count = min(INTERPOLATION_ROWS, len(fixed) // 2) or 1
        rows = [slerp(fixed[2 * row], fixed[(2 * row + 1) % len(fixed)], fractions) for row in range(count)]
        labels = np.zeros(count * INTERPOLATION_STEPS)
    latent = np.concatenate(rows).astype("float32")
    images = model({"latent": latent, "labels": labels.astype("int32")}, training=False)
    images = keras.ops.convert_to_numpy(decode(images, model)["images"])
    return tile_images(images, INTERPOLATION_STEPS).numpy()


def plot_losses(history, path):
    """Generator and discriminator losses per epoch, and the validation FID where logged."""
    panels = 2 if "val_fid" in history else 1
    figure, axes = plt.subplots(1, panels, figsize=(4.8 * panels, 3.6), squeeze=False)
    epochs = np.arange(1, len(history["d_loss"]) + 1)
    axes[0, 0].plot(epochs, history["d_loss"], marker="o", label="discriminator")
    axes[0, 0].plot(epochs, history["g_loss"], marker="o", label="generator")
    axes[0, 0].set_title("losses")
    if panels == 2:
        plot_series(axes[0, 1], history["val_fid"], color="C2")  # the epochs FID was measured
        axes[0, 1].set_title("validation FID")
    for axis in axes[0]:
        axis.set_xlabel("epoch")
        axis.grid(alpha=0.3)
    axes[0, 0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write_gif(frames, path):
    """An animated GIF of the PNG `frames` (None when there are none)."""
    from PIL import Image

    if not frames:
        return None
    images = []
    for frame in frames:
        with Image.open(frame) as image:
            images.append(image.copy())
    images[0].save(path, save_all=True, append_images=images[1:], duration=GIF_FRAME_MILLISECONDS, loop=0)
    return Path(path)
