"""Serving signatures of the segmentation model, built by `apps.core.images`.

Every signature answers each image at its own size: the image is resized to the
network's square input inside the graph, the class probabilities are resized back
(bilinear) to the image's height and width, and the decode step
(`SegmentationApp.decode_predictions`) takes the most probable class per pixel.

- `serving_default`: `image_bytes`, a batch of PNG/JPEG/GIF/BMP files of any sizes;
- `serve_uint8`: `images`, a uint8 batch `[batch, height, width, 3]` (one size per batch);
- `serve_tf_example`: `examples`, serialized `tf.Example`s with the file in `image/encoded`.

Outputs: `mask`, uint8 `[batch, height, width]` class ids, and `mask_png_bytes`, each mask
PNG-encoded at its image's own size. In a batch of images of different sizes, `mask`
is padded to the batch's largest height and width with `PADDING_CLASS` (255) below and
right of each image's own pixels; `mask_png_bytes` is never padded.
"""

import tensorflow as tf

from apps.core.images import ImageSignatures

PADDING_CLASS = 255
# The server joins a request's chunks padded as one call pads, and never batches these
# signatures with other clients' images (`serving.request_rules`).
SERVING_RULES = {name: {"padded_outputs": {"mask": PADDING_CLASS}} for name in ("serving_default", "serve_tf_example")}


def make_signatures(model, decode_predictions, config):
    """`{name: tf.function}` of the three segmentation signatures."""
    size = (config.image_size, config.image_size)

    def prepare_image(image):
        return {"image": tf.image.resize(tf.cast(image, tf.float32), size), "size": tf.shape(image)[:2]}

    def prepare_batch(images):
        count = tf.shape(images)[0]
        return {
            "image": tf.image.resize(tf.cast(images, tf.float32), size),
            "size": tf.tile(tf.shape(images)[1:3][tf.newaxis], [count, 1]),
        }

    def answer(prepared):
        probabilities = model(prepared["image"], training=False)
        return masks_at_sizes(probabilities, prepared["size"], decode_predictions, model)

    signatures = ImageSignatures(answer, channels=3, max_pixels=config.max_image_pixels)
    return {
        "serving_default": signatures.from_bytes(prepare_image),
        "serve_uint8": signatures.from_tensors(prepare_batch, shape=(None, None, 3)),
        "serve_tf_example": signatures.from_examples(prepare_image),
    }


def masks_at_sizes(probabilities, sizes, decode_predictions, model):
    """Probabilities at the network's size and each image's `(height, width)` → `mask`
    (padded to the largest) and `mask_png_bytes` (each at its own size)."""
    largest = tf.reduce_max(sizes, axis=0)

    def one_mask(item):
        image_probabilities, image_size = item
        resized = tf.image.resize(image_probabilities, image_size)
        mask = decode_predictions(resized[tf.newaxis], model)["mask"][0]
        padding = [[0, largest[0] - image_size[0]], [0, largest[1] - image_size[1]]]
        return tf.pad(mask, padding, constant_values=PADDING_CLASS), tf.io.encode_png(mask[..., tf.newaxis])

    masks, pngs = tf.map_fn(
        one_mask,
        (probabilities, sizes),
        parallel_iterations=1,
        fn_output_signature=(tf.TensorSpec([None, None], tf.uint8), tf.TensorSpec([], tf.string)),
    )
    return {"mask": masks, "mask_png_bytes": pngs}
