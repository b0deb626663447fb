"""Serving signatures of the digits model: raw pixel batches and encoded image bytes."""

import tensorflow as tf

IMAGE_SIZE = 28
DIGIT_BOX = 20  # MNIST digits sit in a 20×20 box centred in the 28×28 frame


def _outputs(probabilities):
    return {"probabilities": probabilities, "classes": tf.argmax(probabilities, axis=-1)}


def scale_to_unit(images):
    """Float pixels to [0, 1]: images whose values exceed 1 are taken as 0–255."""
    images = tf.cast(images, tf.float32)
    peak = tf.reduce_max(images, axis=[1, 2], keepdims=True)
    return tf.where(peak > 1.0, images / 255.0, images)


def decode_to_mnist(encoded):
    """PNG/JPEG/GIF/BMP bytes of any size → 28×28 float image, white digit on black."""
    image = tf.io.decode_image(encoded, channels=1, expand_animations=False)
    image = tf.image.convert_image_dtype(image, tf.float32)
    image = tf.cond(tf.reduce_mean(image) > 0.5, lambda: 1.0 - image, lambda: image)
    if_mnist_sized = tf.logical_and(tf.shape(image)[0] == IMAGE_SIZE, tf.shape(image)[1] == IMAGE_SIZE)
    image = tf.cond(
        if_mnist_sized,
        lambda: image,
        lambda: tf.image.pad_to_bounding_box(
            tf.image.resize_with_pad(image, DIGIT_BOX, DIGIT_BOX, antialias=True),
            (IMAGE_SIZE - DIGIT_BOX) // 2, (IMAGE_SIZE - DIGIT_BOX) // 2, IMAGE_SIZE, IMAGE_SIZE,
        ),
    )
    return tf.reshape(image, [IMAGE_SIZE, IMAGE_SIZE])


def make_signatures(model):
    def classify(images):
        return _outputs(model(images[..., tf.newaxis], training=False))

    @tf.function(input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE], tf.float32, name="images")])
    def serving_default(images):
        return classify(scale_to_unit(images))

    @tf.function(input_signature=[tf.TensorSpec([None, IMAGE_SIZE, IMAGE_SIZE], tf.uint8, name="images")])
    def serve_uint8(images):
        return classify(tf.cast(images, tf.float32) / 255.0)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="image_bytes")])
    def serve_image_bytes(image_bytes):
        images = tf.map_fn(decode_to_mnist, image_bytes, fn_output_signature=tf.float32)
        return classify(images)

    return {
        "serving_default": serving_default,
        "serve_uint8": serve_uint8,
        "serve_image_bytes": serve_image_bytes,
    }
