"""The GAN model: shapes, its own training step on every backend, saving and reloading."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.dcgan.fid import build_classifier
from apps.dcgan.model import build_discriminator, build_gan, build_generator, upsampling_stages
from tests.apps.dcgan.conftest import tiny_config


def _gan(config, num_classes=10):
    classifier = build_classifier(config.image_size, config.channels, num_classes, 4)
    return build_gan(config, num_classes, classifier)


def _batches(config, count=2):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (count * 16, config.image_size, config.image_size, config.channels))
    labels = rng.integers(0, 10, count * 16)
    dataset = tf.data.Dataset.from_tensor_slices(({"labels": labels}, images.astype("float32")))
    return dataset.batch(16)


@pytest.mark.parametrize("size, stages", [(28, 2), (32, 3), (64, 4), (12, 1)])
def test_the_generator_doubles_from_a_start_of_at_least_4_pixels(size, stages):
    assert upsampling_stages(size) == stages


@pytest.mark.parametrize("changes", [{}, {"image_size": 32, "channels": 3}, {"conditional": True}])
def test_networks_follow_image_size_channels_and_conditioning(changes):
    config = tiny_config(**changes)
    generator, discriminator = build_generator(config, 10), build_discriminator(config, 10)
    latent = np.zeros((3, config.latent_dim), "float32")
    labels = np.array([0, 1, 2], "int32")
    images = generator([latent, labels] if config.conditional else latent)
    assert tuple(images.shape) == (3, config.image_size, config.image_size, config.channels)
    assert float(keras.ops.max(keras.ops.abs(images))) <= 1.0  # tanh
    logits = discriminator([images, keras.ops.convert_to_tensor(labels)] if config.conditional else images)
    assert tuple(logits.shape) == (3, 1)


def _values(variables):
    return [keras.ops.convert_to_numpy(variable) for variable in variables]


# The conditional step runs on every backend in the reload test below.
@pytest.mark.parametrize("conditional", [pytest.param(False, marks=pytest.mark.multibackend), True])
def test_the_train_step_updates_both_networks_and_both_optimizers(conditional, tmp_path):
    config = tiny_config(conditional=conditional)
    model = _gan(config)
    before = {name: _values(getattr(model, name).trainable_variables) for name in ("generator", "discriminator")}
    fixed, classifier = _values([model.fixed_latent]), _values(model.classifier.weights)
    history = model.fit(_batches(config), epochs=1, verbose=0)
    assert {"d_loss", "g_loss"} <= set(history.history)
    assert np.isfinite(history.history["d_loss"][0]) and np.isfinite(history.history["g_loss"][0])
    for name, values in before.items():
        after = _values(getattr(model, name).trainable_variables)
        assert all(not np.allclose(a, b) for a, b in zip(values, after) if a.ndim > 1), name
    assert int(model.generator_optimizer.iterations) == int(model.discriminator_optimizer.iterations) == 2
    np.testing.assert_array_equal(_values([model.fixed_latent])[0], fixed[0])  # the grid's noise never trains
    for a, b in zip(classifier, _values(model.classifier.weights)):
        np.testing.assert_array_equal(a, b)  # the FID classifier is frozen


@pytest.mark.multibackend
def test_the_saved_model_reloads_with_weights_optimizers_and_fixed_noise(tmp_path):
    config = tiny_config(conditional=True)
    model = _gan(config)
    model.fit(_batches(config), epochs=1, verbose=0)
    model.save(tmp_path / "gan.keras")
    reloaded = keras.saving.load_model(tmp_path / "gan.keras")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(reloaded.fixed_samples()),
        keras.ops.convert_to_numpy(model.fixed_samples()),
        atol=1e-5,
    )
    for original, restored in (
        (model.generator_optimizer, reloaded.generator_optimizer),
        (model.discriminator_optimizer, reloaded.discriminator_optimizer),
    ):
        assert int(restored.iterations) == int(original.iterations) == 2
        for a, b in zip(_values(original.variables), _values(restored.variables)):
            np.testing.assert_allclose(a, b)
    assert reloaded.conditional and reloaded.num_classes == 10


@pytest.mark.multibackend
def test_the_moving_average_of_the_generator_follows_each_step_and_generates():
    config = tiny_config(generator_ema=0.9)
    model = _gan(config)
    average = _values(model.generator.weights)
    for step in (1, 2, 3):
        model.fit(_batches(config, count=1), epochs=1, verbose=0)  # one step
        decay = min(0.9, (1 + step) / (10 + step))
        average = [a - (1 - decay) * (a - g) for a, g in zip(average, _values(model.generator.weights))]
    for expected, actual in zip(average, _values(model.ema_generator.weights)):
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(average[0], _values(model.generator.weights)[0])
    latent = np.random.default_rng(0).standard_normal((2, config.latent_dim)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model({"latent": latent}, training=False)),
        keras.ops.convert_to_numpy(model.ema_generator(latent, training=False)),
        atol=1e-6,
    )


def test_without_the_moving_average_the_trained_generator_generates():
    model = _gan(tiny_config(generator_ema=0.0))
    assert model.ema_generator is None and model.sampler is model.generator
