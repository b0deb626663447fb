"""The DCGAN's FID evaluation streams: accumulated over batches, equal to the whole-array one."""

import keras
import numpy as np
import tensorflow as tf

from apps.dcgan import fid as fid_lib
from apps.dcgan.evaluation import split_scores
from apps.dcgan.fid import real_moments
from apps.dcgan.model import build_gan
from tests.apps.dcgan.conftest import tiny_config


def _model(config):
    keras.utils.set_random_seed(0)
    classifier = fid_lib.build_classifier(config.image_size, config.channels, 10, config.fid_classifier_width)
    return build_gan(config, 10, classifier)


def test_streamed_fid_equals_the_whole_array_fid():
    config = tiny_config(conditional=True)
    model = _model(config)
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (150, 28, 28, 1)).astype(np.float32)
    labels = rng.integers(0, 10, 150)
    dataset = tf.data.Dataset.from_tensor_slices(({"labels": labels}, images)).batch(64)
    scores = split_scores(model, dataset, 100)  # stops inside the second batch
    noise = np.random.default_rng(model.seed)
    generated = np.concatenate(
        [
            keras.ops.convert_to_numpy(
                model(
                    {
                        "latent": noise.standard_normal((count, model.latent_dim)).astype("float32"),
                        "labels": labels[start : start + count],
                    },
                    training=False,
                )
            )
            for start, count in ((0, 64), (64, 64))
        ]
    )[:100]
    generated_features, generated_probabilities = fid_lib.classify(model.classifier, generated)
    real_features, real_probabilities = fid_lib.classify(model.classifier, images[:100])
    assert scores.count == 100
    np.testing.assert_allclose(scores.fid(), fid_lib.fid(generated_features, real_features), rtol=1e-6)
    np.testing.assert_array_equal(
        scores.generated_counts, np.bincount(np.argmax(generated_probabilities, -1), minlength=10)
    )
    assert scores.real_right == np.sum(np.argmax(real_probabilities, -1) == labels[:100])
    assert scores.generated_right == np.sum(np.argmax(generated_probabilities, -1) == labels[:100])


def test_the_real_floor_reads_the_first_training_images_from_the_stream():
    config = tiny_config()
    model = _model(config)
    images = np.random.default_rng(1).integers(0, 256, (40, 28, 28, 1)).astype(np.uint8)
    examples = tf.data.Dataset.from_tensor_slices((images, np.zeros(40, np.int64)))
    moments = real_moments(model.classifier, examples, 30, batch_size=8)
    features, _ = fid_lib.classify(model.classifier, images[:30].astype(np.float32) / 127.5 - 1.0)
    mean, covariance = moments.gaussian()
    np.testing.assert_allclose(mean, features.mean(axis=0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(covariance, np.cov(features, rowvar=False), rtol=1e-6, atol=1e-9)
