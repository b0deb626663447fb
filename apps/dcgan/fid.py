"""Fréchet Inception Distance on the features of a small classifier trained on the same data.

FID (Heusel et al., 2017) compares two sets of images by the Gaussians fitted to their
features: `|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`. The Inception network of
the original is trained on ImageNet; here the features come from a small CNN the app trains
on the dataset's own labelled training split (three strided convolutions, global average
pooling, then the `features` layer: Dense, ReLU, `4 × fid_classifier_width` units, the
layer before the softmax). It is kept inside the saved GAN (`GAN.classifier`), so a run's
FID is measured with the same network before and after a reload. FIDs on different
classifiers (datasets, widths, seeds) are not comparable.
"""

import warnings

import keras
import numpy as np
import scipy.linalg

FEATURES_LAYER = "features"
CLASSIFIER_LEARNING_RATE = 1e-3
CLASSIFIER_BATCH_SIZE = 128
COVARIANCE_EPSILON = 1e-6


def build_classifier(image_size, channels, num_classes, width):
    """images in [-1, 1] → `[features, class probabilities]`."""
    images = keras.Input((image_size, image_size, channels), name="images")
    x = images
    for stage in range(3):
        x = keras.layers.Conv2D(width * 2 ** min(stage, 1), 3, strides=2, padding="same", activation="relu",
                                name=f"classifier_conv{stage}")(x)
    x = keras.layers.GlobalAveragePooling2D(name="classifier_pool")(x)
    features = keras.layers.Dense(4 * width, activation="relu", name=FEATURES_LAYER)(x)
    probabilities = keras.layers.Dense(max(num_classes, 1), activation="softmax", dtype="float32",
                                       name="probabilities")(features)
    return keras.Model(images, [features, probabilities], name="fid_classifier")


def train_classifier(examples, count, num_classes, config):
    """The classifier of `build_classifier`, trained on the stream `examples` of `count`
    unbatched `(uint8 image, integer label)`, reshuffled every epoch."""
    from apps.core.data import AUTOTUNE, prefetched
    from apps.dcgan.data import SHUFFLE_BUFFER, to_unit_range

    classifier = build_classifier(config.image_size, config.channels, num_classes, config.fid_classifier_width)
    trainer = keras.Model(classifier.input, classifier.output[1])
    trainer.compile(optimizer=keras.optimizers.Adam(CLASSIFIER_LEARNING_RATE),
                    loss="sparse_categorical_crossentropy")
    batches = (examples.shuffle(min(count, SHUFFLE_BUFFER), seed=config.seed, reshuffle_each_iteration=True)
               .batch(CLASSIFIER_BATCH_SIZE)
               .map(lambda images, labels: (to_unit_range(images), labels), num_parallel_calls=AUTOTUNE))
    trainer.fit(prefetched(batches), epochs=config.fid_classifier_epochs, shuffle=False, verbose=0)
    return classifier


def classify(classifier, images, batch_size=256):
    """`(features, probabilities)` as NumPy arrays for images in [-1, 1]."""
    features, probabilities = [], []
    for start in range(0, len(images), batch_size):
        batch_features, batch_probabilities = classifier(images[start:start + batch_size], training=False)
        features.append(keras.ops.convert_to_numpy(batch_features))
        probabilities.append(keras.ops.convert_to_numpy(batch_probabilities))
    return np.concatenate(features).astype(np.float64), np.concatenate(probabilities)


class FeatureMoments:
    """The mean and covariance of features met batch by batch (Chan et al.'s pairwise update):
    memory of one `[D, D]` matrix, however many images."""

    def __init__(self):
        self.count, self.mean, self.scatter = 0, 0.0, 0.0

    def update(self, features):
        """Adds a `[n, D]` batch of features."""
        features = np.asarray(features, dtype=np.float64)
        count = len(features)
        if not count:
            return
        mean = features.mean(axis=0)
        centred = features - mean
        delta = mean - self.mean
        total = self.count + count
        self.scatter = self.scatter + centred.T @ centred + np.outer(delta, delta) * self.count * count / total
        self.mean = self.mean + delta * count / total
        self.count = total

    def gaussian(self):
        """`(mean, covariance)` of the features so far (the covariance as `np.cov`'s)."""
        if self.count < 2:
            raise ValueError(f"FID needs at least 2 images per set, got {self.count}.")
        return self.mean, self.scatter / (self.count - 1)


def gaussian(features):
    """Mean and covariance of a `[N, D]` feature array."""
    features = np.asarray(features, dtype=np.float64)
    if len(features) < 2:
        raise ValueError(f"FID needs at least 2 images per set, got {len(features)}.")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mean_a, covariance_a, mean_b, covariance_b):
    """The Fréchet distance between two Gaussians."""
    with warnings.catch_warnings():  # ReLU features that never fire make covariances singular
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        product = scipy.linalg.sqrtm(covariance_a @ covariance_b)
    if not np.isfinite(product).all():  # nearly singular: nudge both (as pytorch-fid does)
        offset = np.eye(len(mean_a)) * COVARIANCE_EPSILON
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
            product = scipy.linalg.sqrtm((covariance_a + offset) @ (covariance_b + offset))
    trace = np.trace(covariance_a) + np.trace(covariance_b) - 2.0 * np.trace(product.real)
    return float(max(np.sum((mean_a - mean_b) ** 2) + trace, 0.0))


def fid(features_a, features_b):
    """FID between two `[N, D]` feature arrays."""
    return frechet_distance(*gaussian(features_a), *gaussian(features_b))
