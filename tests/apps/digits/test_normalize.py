"""Image files as users send them → MNIST's 28×28 layout, through the digits serving signatures.

Model-free: the signatures are built around an identity "model", so they answer the
normalised images themselves, which are compared with MNIST's own 28×28 digit.
(`test_renderings_slow.py` checks a trained model's answers on the real MNIST test set.)
"""

import functools

import numpy as np
import pytest
import tensorflow as tf

from apps.core.images import DEFAULT_MAX_PIXELS
from apps.digits import data as digits_data
from apps.digits.signatures import make_signatures
from tests.apps.digits.renderings import RENDERINGS, best_shift_correlation, rendered, stroke_widths

SAMPLE = 200
THIN_SAMPLE = 100  # the 300×300 thin-pen drawings cost ten times more to make and read


@functools.lru_cache(maxsize=1)
def signatures():
    """The digits signatures answering the normalised images (`{"images": [n, 28, 28]}`)."""
    return make_signatures(
        lambda images, training: images[..., 0], lambda images, model: {"images": images}, DEFAULT_MAX_PIXELS
    )


def normalised(files):
    return signatures()["serve_image_bytes"](tf.constant(files))["images"].numpy()


@functools.cache
def digits_and_normalised(kind):
    (_, _), (digits, _) = digits_data.builtin_arrays()
    digits = digits[: THIN_SAMPLE if kind == "thin" else SAMPLE]
    return digits, normalised(rendered(digits, kind))


def test_mnist_images_pass_through_unchanged():
    (_, _), (digits, _) = digits_data.builtin_arrays()
    digits = digits[:SAMPLE]
    for files in (rendered(digits, "mnist_png"), rendered(255 - digits, "mnist_png")):
        np.testing.assert_allclose(normalised(files), digits / 255.0, atol=1e-6)


@pytest.mark.parametrize("kind", [kind for kind in RENDERINGS if kind not in ("mnist_png", "thin")])
def test_renderings_come_out_as_mnist_made_them(kind):
    digits, images = digits_and_normalised(kind)
    correlations = best_shift_correlation(images, digits / 255.0)
    assert np.median(correlations) >= 0.9, np.median(correlations)
    assert np.mean(correlations >= 0.8) >= 0.98, np.sort(correlations)[:10]


def test_thin_pen_drawings_are_thickened_to_mnist_strokes():
    digits, images = digits_and_normalised("thin")
    correlations = best_shift_correlation(images, digits / 255.0)
    # A one-pixel pen loses what a thick one filled (the loop of some 9s): a lower bar.
    assert np.median(correlations) >= 0.85 and np.mean(correlations >= 0.6) >= 0.95, np.sort(correlations)[:10]
    mnist_widths = np.median(stroke_widths(digits / 255.0))
    assert 0.7 * mnist_widths <= np.median(stroke_widths(images)) <= 1.3 * mnist_widths


def test_examples_signature_reads_like_the_bytes_signature():
    digits, images = digits_and_normalised("jpeg")
    files = rendered(digits[:10], "jpeg")
    examples = [
        tf.train.Example(
            features=tf.train.Features(
                feature={"image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))}
            )
        ).SerializeToString()
        for data in files
    ]
    answered = signatures()["serve_tf_example"](tf.constant(examples))["images"].numpy()
    np.testing.assert_allclose(answered, images[:10], atol=1e-6)


def test_degenerate_images_are_answered():
    blank = np.full((40, 60), 255, np.uint8)
    line = np.zeros((3000, 300), np.uint8)
    line[:, 150] = 255
    wide = np.full((1, 5000), 255, np.uint8)
    images = normalised([tf.io.encode_png(image[..., None]).numpy() for image in (blank, line, wide)])
    assert not images[0].any() and not images[2].any()
    rows, columns = np.nonzero(images[1] > 0.5)
    assert rows.max() - rows.min() + 1 == 20 and abs(columns.mean() - 14) <= 1
