"""Fréchet Inception Distance on the features of a small classifier of the dataset's classes.

FID (Heusel et al., 2017) compares two sets of images by the Gaussians fitted to their
features: `|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`. The Inception network of
the original is trained on ImageNet; here the features come from a small CNN trained on the
dataset's labelled training images (`apps.dcgan.instrument`: apart from the GAN, cached per
dataset), the `features` layer before its softmax. It is kept inside the saved GAN
(`GAN.classifier`), so a run's FID is measured with the same network before and after a
reload. FIDs on different classifiers (datasets, widths, epochs) are not comparable.
"""

import warnings

import keras
import numpy as np
import scipy.linalg

FEATURES_LAYER = "features"
COVARIANCE_EPSILON = 1e-6
DROPOUT = 0.3


def _conv(x, filters, strides, name):
    x = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = keras.layers.BatchNormalization(name=f"{name}_bn")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def build_classifier(image_size, channels, num_classes, width):
    """images in [-1, 1] → `[features, class probabilities]`: five 3×3 convolutions with batch
    norm (`width`, `width` stride 2, `2 width`, `2 width` stride 2, `4 width`), global average
    pooling, the `features` layer (Dense, ReLU, `4 width` units), dropout and the softmax."""
    images = keras.Input((image_size, image_size, channels), name="images")
    x = images
    for stage, (multiple, strides) in enumerate(((1, 1), (1, 2), (2, 1), (2, 2), (4, 1))):
        x = _conv(x, width * multiple, strides, f"classifier_conv{stage}")
    x = keras.layers.GlobalAveragePooling2D(name="classifier_pool")(x)
    features = keras.layers.Dense(4 * width, activation="relu", name=FEATURES_LAYER)(x)
    x = keras.layers.Dropout(DROPOUT, name="classifier_dropout")(features)
    probabilities = keras.layers.Dense(
        max(num_classes, 1), activation="softmax", dtype="float32", name="probabilities"
    )(x)
    return keras.Model(images, [features, probabilities], name="fid_classifier")


def classify(classifier, images, batch_size=256):
    """`(features, probabilities)` as NumPy arrays for images in [-1, 1]."""
    features, probabilities = [], []
    for start in range(0, len(images), batch_size):
        batch_features, batch_probabilities = classifier(images[start : start + batch_size], training=False)
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


def real_moments(classifier, examples, count, batch_size=256):
    """`FeatureMoments` of the first `count` of the unbatched uint8 `(image, label)` `examples`."""
    from apps.dcgan.data import to_unit_range

    moments = FeatureMoments()
    for images, _ in examples.take(count).batch(batch_size):
        moments.update(classify(classifier, keras.ops.convert_to_numpy(to_unit_range(images)))[0])
    return moments
