"""Augmentation that moves boxes and masks with their image, through Keras' own layers.

Keras 3's image augmentation layers transform a dict `{"images", "bounding_boxes":
{"boxes", "labels"}, "segmentation_masks"}` consistently when they are given a
`bounding_box_format`; this module maps the suite's `(images, targets)` batches
onto that dict and back, so no app writes its own box or mask geometry.

Targets of image apps are dicts: `boxes` (`[batch, max_boxes, 4]` in the app's box
format, padded), `classes` (`[batch, max_boxes]`, -1 for padding) and/or `mask`
(`[batch, height, width, 1]` class ids). Other keys pass through unchanged.

Keras 3.15 transforms boxes and masks of the same batch together on the TensorFlow
backend only; on JAX and PyTorch a batch carries boxes or masks, not both.
"""

import keras
import tensorflow as tf

BOXES, CLASSES, MASK = "boxes", "classes", "mask"


def geometric_layers(bounding_box_format=None, *, flip="horizontal", zoom=0.0, translation=0.0, seed=None):
    """Keras augmentation layers that keep boxes and masks aligned with the image.

    Args:
        bounding_box_format: the boxes' format (`"xyxy"`, `"rel_yxyx"`...; see
            `keras.utils.bounding_boxes.convert_format`); None when there are no boxes.
        flip: `"horizontal"`, `"vertical"`, `"horizontal_and_vertical"` or None.
        zoom: scale jitter: the image is zoomed in or out by up to this fraction.
        translation: shift by up to this fraction of the image side.
        seed: seed of the random transformations.
    """
    options = {"bounding_box_format": bounding_box_format, "seed": seed}
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip(flip, **options))
    if zoom:
        layers.append(keras.layers.RandomZoom(zoom, zoom, fill_mode="constant", **options))
    if translation:
        layers.append(keras.layers.RandomTranslation(translation, translation, fill_mode="constant", **options))
    return layers


class GeometricAugmentation:
    """Maps batches `(images, targets)` through `layers`, boxes and masks included.

    Use it as the `augment` of `apps.core.data.batched_pipeline` (inside tf.data, where
    Keras runs its layers on TensorFlow whatever the backend). Boxes pushed out of
    the image are clipped by Keras; those left with no area get class -1 (padding).

    Args:
        layers: Keras image augmentation layers (see `geometric_layers`).
    """

    def __init__(self, layers):
        self.layers = list(layers)

    def __call__(self, images, targets):
        data = {"images": images}
        is_dict = isinstance(targets, dict)
        if is_dict and BOXES in targets:
            data["bounding_boxes"] = {"boxes": targets[BOXES], "labels": targets[CLASSES]}
        if is_dict and MASK in targets:
            data["segmentation_masks"] = targets[MASK]
        for layer in self.layers:
            data = layer(data, training=True)
        if not is_dict:
            return data["images"], targets
        targets = dict(targets)
        if "bounding_boxes" in data:
            targets[BOXES] = data["bounding_boxes"]["boxes"]
            targets[CLASSES] = tf.cast(data["bounding_boxes"]["labels"], targets[CLASSES].dtype)
        if "segmentation_masks" in data:
            targets[MASK] = data["segmentation_masks"]
        return data["images"], targets
