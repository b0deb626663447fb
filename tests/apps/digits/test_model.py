"""Model build and training steps, on every backend."""

import numpy as np
import pytest

from apps.digits.model import build_model
from tests.apps.digits.conftest import tiny_config

pytestmark = pytest.mark.multibackend


@pytest.mark.parametrize("architecture", ["resnet", "cnn"])
def test_build_and_one_training_step_changes_weights(architecture):
    model = build_model(tiny_config(model=architecture), train_examples=64)
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    before = [w.copy() for w in model.get_weights()]
    rng = np.random.default_rng(0)
    images = rng.random((8, 28, 28, 1), dtype=np.float32)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 8)]
    model.train_on_batch(images, labels)
    after = model.get_weights()
    assert any(not np.allclose(b, a) for b, a in zip(before, after))
    probabilities = model.predict(images, verbose=0)
    np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, rtol=1e-5)


def test_decode_predictions_answers_probabilities_and_classes(app):
    import keras

    probabilities = np.zeros((2, 10), np.float32)
    probabilities[0, 3], probabilities[1, 9] = 0.9, 0.6
    decoded = app.decode_predictions(keras.ops.convert_to_tensor(probabilities), model=None)
    assert set(decoded) == {"probabilities", "classes"}
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(decoded["classes"]), [3, 9])
    np.testing.assert_allclose(keras.ops.convert_to_numpy(decoded["probabilities"]), probabilities)


def test_unknown_model_is_rejected_with_the_choices():
    with pytest.raises(ValueError, match="resnet"):
        tiny_config(model="vit")
