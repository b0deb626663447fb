"""The builtin data: generated shapes on textured backgrounds, with their masks.

Deterministic (a fixed seed per split), offline and made at any size: each image
has a striped, noisy background and one to three shapes (circles, squares and
triangles) of random colours, sizes and places, drawn over one another; the mask
holds the class of the shape on top at each pixel, 0 for the background.
"""

import functools

import numpy as np

CLASS_NAMES = ("background", "circle", "square", "triangle")
TRAIN_EXAMPLES, TEST_EXAMPLES = 320, 80
_SEEDS = {"train": 20261128, "test": 20261129}


def _background(rng, size):
    rows, columns = np.mgrid[0:size, 0:size] / size
    angle, frequency = rng.uniform(0, np.pi), rng.uniform(2, 8)
    stripes = np.sin(2 * np.pi * frequency * (rows * np.cos(angle) + columns * np.sin(angle)))
    base, contrast = rng.uniform(40, 200, size=3), rng.uniform(10, 40)
    texture = base + contrast * stripes[..., None] + rng.normal(0, 12, size=(size, size, 3))
    return texture


def _shape_pixels(kind, rows, columns, center, radius):
    """A boolean image of one shape (1 circle, 2 square, 3 triangle)."""
    dy, dx = rows - center[0], columns - center[1]
    if kind == 1:
        return dy**2 + dx**2 <= radius**2
    if kind == 2:
        return (np.abs(dy) <= radius * 0.85) & (np.abs(dx) <= radius * 0.85)
    # An upward triangle: below its apex, inside two slanted sides.
    return (dy <= radius * 0.8) & (dy >= -radius) & (np.abs(dx) <= (dy + radius) * 0.6)


def _scene(rng, size):
    rows, columns = np.mgrid[0:size, 0:size]
    image = _background(rng, size)
    mask = np.zeros((size, size), np.uint8)
    for _ in range(rng.integers(1, 4)):
        kind = int(rng.integers(1, 4))
        radius = rng.uniform(0.12, 0.25) * size
        center = rng.uniform(radius, size - radius, size=2)
        pixels = _shape_pixels(kind, rows, columns, center, radius)
        color = rng.uniform(0, 255, size=3)
        image[pixels] = color + rng.normal(0, 8, size=(int(pixels.sum()), 3))
        mask[pixels] = kind
    return np.clip(image, 0, 255).astype(np.uint8), mask


@functools.lru_cache(maxsize=4)
def builtin_split(split, size):
    """`(images uint8 [n, size, size, 3], masks uint8 [n, size, size])` of the `train` or
    `test` split (always the same for a size)."""
    count = TRAIN_EXAMPLES if split == "train" else TEST_EXAMPLES
    rng = np.random.default_rng(_SEEDS[split])
    scenes = [_scene(rng, size) for _ in range(count)]
    return np.stack([image for image, _ in scenes]), np.stack([mask for _, mask in scenes])
