"""Boxes and masks move with their image through Keras' own augmentation layers, in
tf.data pipelines whose examples hold a varying number of boxes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from apps.core.augment import GeometricAugmentation, geometric_layers
from apps.core.data import batched_pipeline

SIZE = 32


def _scene(boxes):
    """An image and a mask with one filled rectangle per `[x0, y0, x1, y1]` box."""
    image = np.zeros((SIZE, SIZE, 3), np.float32)
    mask = np.zeros((SIZE, SIZE, 1), np.int32)
    for x0, y0, x1, y1 in boxes:
        image[y0:y1, x0:x1] = 1.0
        mask[y0:y1, x0:x1] = 1
    return image, mask


def _examples():
    scenes = [[(2, 4, 10, 12)], [(20, 2, 30, 9), (3, 20, 9, 30)]]
    for boxes in scenes:
        image, mask = _scene(boxes)
        yield image, {"boxes": np.array(boxes, np.float32), "classes": np.ones(len(boxes), np.int32), "mask": mask}


def _dataset():
    signature = (
        tf.TensorSpec((SIZE, SIZE, 3), tf.float32),
        {
            "boxes": tf.TensorSpec((None, 4), tf.float32),
            "classes": tf.TensorSpec((None,), tf.int32),
            "mask": tf.TensorSpec((SIZE, SIZE, 1), tf.int32),
        },
    )
    return tf.data.Dataset.from_generator(_examples, output_signature=signature)


def _box_of(binary):
    ys, xs = np.nonzero(binary)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_varying_box_counts_are_padded_with_minus_one_classes():
    padding = (0.0, {"boxes": 0.0, "classes": -1, "mask": 0})
    batch = next(iter(batched_pipeline(_dataset(), 2, training=False, padding_values=padding)))
    assert batch[1]["boxes"].shape == (2, 2, 4)
    assert batch[1]["classes"].numpy().tolist() == [[1, -1], [1, 1]]


def _augmented_batches(flip, keys):
    padding = (0.0, {"boxes": 0.0, "classes": -1, "mask": 0})
    augment = GeometricAugmentation(geometric_layers("xyxy", flip=flip, seed=3))
    dataset = _dataset().map(lambda image, targets: (image, {key: targets[key] for key in keys}))
    padding = (0.0, {key: padding[1][key] for key in keys})
    for seed in range(3):
        tf.random.set_seed(seed)
        images, targets = next(
            iter(batched_pipeline(dataset, 2, training=True, seed=seed, augment=augment, padding_values=padding))
        )
        yield images.numpy(), {key: value.numpy() for key, value in targets.items()}


@pytest.mark.multibackend
@pytest.mark.parametrize("flip", ["horizontal", "vertical"])
def test_flip_moves_boxes_with_their_pixels(flip):
    for images, targets in _augmented_batches(flip, ("boxes", "classes")):
        assert targets["classes"].dtype == np.int32
        for index in range(2):
            real = targets["boxes"][index][targets["classes"][index] >= 0]
            for box in real:  # each box covers exactly the pixels of its rectangle
                x0, y0, x1, y1 = np.round(box).astype(int)
                assert images[index, y0:y1, x0:x1].min() == 1.0
            assert images[index].sum() == pytest.approx(sum((b[2] - b[0]) * (b[3] - b[1]) for b in real) * 3)


@pytest.mark.multibackend
@pytest.mark.parametrize("flip", ["horizontal", "vertical"])
def test_flip_moves_masks_with_their_pixels(flip):
    for images, targets in _augmented_batches(flip, ("mask",)):
        for index in range(2):
            np.testing.assert_array_equal(targets["mask"][index, ..., 0], images[index, ..., 0].astype(np.int32))


def test_boxes_and_masks_together_on_tensorflow():
    """Keras 3.15 transforms boxes and masks of one batch together on the TensorFlow
    backend only (on JAX/PyTorch it fails inside tf.data); apps use one or the other."""
    if keras.backend.backend() != "tensorflow":
        pytest.skip("Keras transforms boxes and masks together on TensorFlow only")
    for images, targets in _augmented_batches("horizontal", ("boxes", "classes", "mask")):
        for index in range(2):
            assert _box_of(targets["mask"][index, ..., 0]) == _box_of(images[index, ..., 0])
            first = np.round(targets["boxes"][index][0]).astype(int)
            assert targets["mask"][index, first[1] : first[3], first[0] : first[2]].min() == 1


def test_zoom_and_translation_keep_boxes_on_their_pixels():
    augment = GeometricAugmentation(geometric_layers("xyxy", flip=None, zoom=0.2, translation=0.1, seed=5))
    image, mask = _scene([(8, 8, 24, 24)])
    images, targets = augment(
        tf.constant(image[None]),
        {
            "boxes": tf.constant([[[8.0, 8.0, 24.0, 24.0]]]),
            "classes": tf.constant([[1]]),
            "mask": tf.constant(mask[None]),
        },
    )
    x0, y0, x1, y1 = targets["boxes"].numpy()[0, 0]
    pixels = _box_of(images.numpy()[0, ..., 0] > 0.5)
    assert np.allclose([x0, y0, x1, y1], pixels, atol=1.5)
    assert np.allclose(_box_of(targets["mask"].numpy()[0, ..., 0] > 0), pixels, atol=1)  # nearest vs bilinear
