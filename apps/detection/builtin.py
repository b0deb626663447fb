"""The builtin data: generated scenes of discs, squares and triangles with their boxes.

Deterministic (a fixed seed per split), offline and made at any size. Each image
has a striped, noisy background of random colours and zero to four shapes of
random colours, sizes (a tenth to a half of the image side) and places: some
overlap (a shape drawn later hides part of an earlier one, at most a third of
their union), some are cut by the border, and about one image in ten holds no
object. A box is the extent of its shape's pixels inside the image, in pixel
edges `[ymin, xmin, ymax, xmax]`.
"""

import functools

import numpy as np

CLASS_NAMES = ("disc", "square", "triangle")
TRAIN_EXAMPLES, TEST_EXAMPLES = 400, 96
EMPTY_SHARE = 0.1
MAX_OBJECTS = 4
MAX_OVERLAP = 1 / 3
_SEEDS = {"train": 20261201, "test": 20261202}


def _background(rng, size):
    rows, columns = np.mgrid[0:size, 0:size] / size
    angle, frequency = rng.uniform(0, np.pi), rng.uniform(2, 10)
    stripes = np.sin(2 * np.pi * frequency * (rows * np.cos(angle) + columns * np.sin(angle)))
    base, contrast = rng.uniform(40, 210, size=3), rng.uniform(10, 45)
    return base + contrast * stripes[..., None] + rng.normal(0, 14, size=(size, size, 3))


def _shape_pixels(kind, rows, columns, center, radius):
    """A boolean image of one shape (0 disc, 1 square, 2 triangle)."""
    dy, dx = rows - center[0], columns - center[1]
    if kind == 0:
        return dy**2 + dx**2 <= radius**2
    if kind == 1:
        return (np.abs(dy) <= radius * 0.85) & (np.abs(dx) <= radius * 0.85)
    return (dy <= radius * 0.8) & (dy >= -radius) & (np.abs(dx) <= (dy + radius) * 0.6)


def _extent(pixels):
    rows, columns = np.flatnonzero(pixels.any(axis=1)), np.flatnonzero(pixels.any(axis=0))
    return np.array([rows[0], columns[0], rows[-1] + 1, columns[-1] + 1], np.float32)


def _iou(box, other):
    height = max(0.0, min(box[2], other[2]) - max(box[0], other[0]))
    width = max(0.0, min(box[3], other[3]) - max(box[1], other[1]))
    inter = height * width
    area = lambda b: (b[2] - b[0]) * (b[3] - b[1])  # noqa: E731
    return inter / (area(box) + area(other) - inter)


def _scene(rng, size):
    rows, columns = np.mgrid[0:size, 0:size]
    image = _background(rng, size)
    boxes, classes = [], []
    count = 0 if rng.uniform() < EMPTY_SHARE else int(rng.integers(1, MAX_OBJECTS + 1))
    for _ in range(count * 4):  # placements that overlap too much are drawn again
        if len(boxes) == count:
            break
        kind = int(rng.integers(0, 3))
        radius = rng.uniform(0.05, 0.25) * size
        center = rng.uniform(-0.3 * radius, size + 0.3 * radius, size=2)
        pixels = _shape_pixels(kind, rows, columns, center, radius)
        if pixels.sum() < 12:
            continue
        box = _extent(pixels)
        if any(_iou(box, other) > MAX_OVERLAP for other in boxes):
            continue
        color = rng.uniform(0, 255, size=3)
        image[pixels] = color + rng.normal(0, 10, size=(int(pixels.sum()), 3))
        boxes.append(box)
        classes.append(kind)
    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    return np.clip(image, 0, 255).astype(np.uint8), boxes, np.array(classes, np.int32)


@functools.lru_cache(maxsize=4)
def builtin_split(split, size):
    """`(images uint8 [n, size, size, 3], boxes [list of float32 [k, 4]], classes [list of
    int32 [k]])` of the `train` or `test` split (always the same for a size)."""
    count = TRAIN_EXAMPLES if split == "train" else TEST_EXAMPLES
    rng = np.random.default_rng(_SEEDS[split])
    scenes = [_scene(rng, size) for _ in range(count)]
    return (
        np.stack([image for image, _, _ in scenes]),
        tuple(boxes for _, boxes, _ in scenes),
        tuple(classes for _, _, classes in scenes),
    )
