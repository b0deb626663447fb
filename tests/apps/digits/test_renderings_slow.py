"""Real MNIST test digits rendered as users send them (other sizes and polarities, uneven paper,
RGB canvases, alpha, GIF, BMP, JPEG, a one-pixel pen), read by a model trained on MNIST
through its exported `serve_image_bytes` signature: at least 98% of each rendering must be
read right (`make test-slow`; trains for about 5 minutes on 2 cores)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.core.workflow import export_app_model
from apps.digits.app import DigitsApp
from apps.digits.config import DigitsConfig
from apps.digits.idx import load_mnist_idx
from tests.apps.digits.renderings import RENDERINGS, rendered

pytestmark = pytest.mark.slow

DIGITS = 2000  # a seeded sample of the 10,000 test digits, the same for every rendering
BATCH = 250
REQUIRED = 0.98


def test_every_rendering_is_read_right_through_the_export(shared_dataset, tmp_path):
    path = shared_dataset("mnist")
    app = DigitsApp()
    config = DigitsConfig(data=f"files:{path}", epochs=4)  # the default model, one cosine cycle
    keras.utils.set_random_seed(config.seed)
    data = app.load_data(config)
    model = app.build_model(config, data)
    app.train(model, data, config)
    serve = tf.saved_model.load(str(export_app_model(app, model, config, tmp_path))).signatures["serve_image_bytes"]

    (_, _), (images, labels) = load_mnist_idx(path)
    chosen = np.random.default_rng(0).choice(len(images), DIGITS, replace=False)
    images, labels = images[chosen], labels[chosen]
    accuracy = {}
    for kind in RENDERINGS:
        files = rendered(images, kind)
        classes = np.concatenate(
            [
                serve(image_bytes=tf.constant(files[start : start + BATCH]))["classes"].numpy()
                for start in range(0, DIGITS, BATCH)
            ]
        )
        accuracy[kind] = float(np.mean(classes == labels))
    print("accuracy per rendering:", {kind: round(value, 4) for kind, value in accuracy.items()})
    assert all(value >= REQUIRED for value in accuracy.values()), accuracy
