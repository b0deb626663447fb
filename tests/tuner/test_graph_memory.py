"""The tuner gives back the graphs TensorFlow keeps registered after each trial."""

import keras
import numpy as np
import pytest

from tuner.graph_memory import GradientRegistryScope, custom_gradient_names

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's gradient registry")


def _fit_tiny_model():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(np.zeros((8, 4), "float32"), np.zeros(8, "int64"), epochs=1, verbose=0)


def test_release_removes_the_custom_gradients_a_fit_registered():
    before = custom_gradient_names()
    scope = GradientRegistryScope()
    scope.begin()
    _fit_tiny_model()
    keras.backend.clear_session()
    registered = custom_gradient_names() - before
    assert registered, "fit no longer registers custom gradients: graph_memory may be obsolete"
    assert scope.release() == len(registered)
    assert custom_gradient_names() == before


def test_release_keeps_names_registered_before_the_trial():
    scope = GradientRegistryScope()
    _fit_tiny_model()  # registered outside any trial
    kept = custom_gradient_names()
    scope.begin()
    keras.backend.clear_session()
    scope.release()
    assert kept <= custom_gradient_names()


def test_release_without_begin_does_nothing():
    assert GradientRegistryScope().release() == 0
