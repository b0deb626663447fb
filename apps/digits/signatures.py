"""Serving signatures of the digits model, built by `apps.core.images`.

`serving_default` and `serve_uint8` take batches already in MNIST's 28×28 layout;
`serve_image_bytes` and `serve_tf_example` take image files of any size, brought to that
layout by `apps.digits.normalize`. All four answer `DigitsApp.decode_predictions`.
"""

import tensorflow as tf

from apps.core.images import ImageSignatures
from apps.digits.data import IMAGE_SIZE
from apps.digits.normalize import normalize_digit


def scale_to_unit(images):
    """Float pixels to [0, 1]: images whose values exceed 1 are taken as 0–255."""
    images = tf.cast(images, tf.float32)
    peak = tf.reduce_max(images, axis=[1, 2], keepdims=True)
    return tf.where(peak > 1.0, images / 255.0, images)


def from_uint8(images):
    return tf.cast(images, tf.float32) / 255.0


def make_signatures(model, decode_predictions, max_pixels):
    """`{name: tf.function}` of the four digits signatures; `max_pixels` bounds each image file."""

    def answer(images):
        return decode_predictions(model(images[..., tf.newaxis], training=False), model)

    signatures = ImageSignatures(answer, channels=1, max_pixels=max_pixels)
    shape = (IMAGE_SIZE, IMAGE_SIZE)
    return {
        "serving_default": signatures.from_tensors(scale_to_unit, shape, tf.float32),
        "serve_uint8": signatures.from_tensors(from_uint8, shape, tf.uint8),
        "serve_image_bytes": signatures.from_bytes(normalize_digit),
        "serve_tf_example": signatures.from_examples(normalize_digit),
    }
