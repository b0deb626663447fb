"""MNIST digits rendered as users send them: image files of other sizes, polarities, papers and formats."""

import io

import numpy as np
from PIL import Image

PAPER_SIZE = (96, 120)
CANVAS_SIZE = (160, 200)
THIN_SIZE = 300


def _encoded(pixels, image_format, **options):
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _resized(digit, side):
    return np.asarray(Image.fromarray(digit).resize((side, side), Image.BILINEAR))


def _on(canvas_shape, digit, top, left):
    """`digit` (ink 0–1) pasted onto a zero canvas at (top, left)."""
    ink = np.zeros(canvas_shape, np.float32)
    ink[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    return ink


def mnist_png(digit, rng):
    """The 28×28 digit exactly as MNIST stores it, as a PNG."""
    return _encoded(digit, "PNG")


def upscaled(digit, rng):
    """White on black, 100×100."""
    return _encoded(_resized(digit, 100), "PNG")


def paper(digit, rng):
    """Black ink on light-gray paper that is uneven (a lighting gradient) and grainy."""
    height, width = PAPER_SIZE
    side = int(rng.integers(56, 80))
    ink = _on(
        PAPER_SIZE,
        _resized(digit, side) / 255.0,
        int(rng.integers(0, height - side)),
        int(rng.integers(0, width - side)),
    )
    rows, columns = np.mgrid[0:height, 0:width]
    light = 0.68 + 0.2 * columns / width + 0.08 * rows / height
    grain = rng.normal(0.0, 0.03, PAPER_SIZE)
    pixels = (light + grain) * (1.0 - 0.8 * ink)
    return _encoded(np.clip(pixels * 255, 0, 255).astype(np.uint8), "PNG")


def off_centre_rgb(digit, rng):
    """Dark blue ink, twice MNIST's size, somewhere near a corner of a large cream RGB canvas."""
    height, width = CANVAS_SIZE
    side = 56
    top = int(rng.choice([rng.integers(0, 20), rng.integers(height - side - 20, height - side)]))
    left = int(rng.choice([rng.integers(0, 20), rng.integers(width - side - 20, width - side)]))
    ink = _on(CANVAS_SIZE, _resized(digit, side) / 255.0, top, left)[..., None]
    paper_color, ink_color = np.array([250, 246, 232.0]), np.array([25, 35, 110.0])
    pixels = paper_color * (1 - ink) + ink_color * ink
    return _encoded(pixels.round().astype(np.uint8), "PNG")


def rgba(digit, rng):
    """Black strokes on a transparent canvas (a drawing app's export): the ink is in the alpha channel."""
    ink = _resized(digit, 64)
    pixels = np.zeros((64, 64, 4), np.uint8)
    pixels[..., 3] = ink
    return _encoded(pixels, "PNG")


def gif(digit, rng):
    """Black on white, 56×56, a palette GIF."""
    return _encoded(255 - _resized(digit, 56), "GIF")


def bmp(digit, rng):
    """White on black, 42×42, a 24-bit RGB BMP."""
    return _encoded(np.repeat(_resized(digit, 42)[..., None], 3, axis=-1), "BMP")


def jpeg(digit, rng):
    """Black on white, 84×84, JPEG at quality 75."""
    return _encoded(255 - _resized(digit, 84), "JPEG", quality=75)


def _thinned(mask):
    """Zhang–Suen thinning of a boolean image to one-pixel-wide strokes."""
    mask = np.pad(mask.astype(np.uint8), 1)
    while True:
        changed = False
        for step in (0, 1):
            p = mask
            p2, p3, p4 = p[:-2, 1:-1], p[:-2, 2:], p[1:-1, 2:]
            p5, p6, p7 = p[2:, 2:], p[2:, 1:-1], p[2:, :-2]
            p8, p9 = p[1:-1, :-2], p[:-2, :-2]
            ring = [p2, p3, p4, p5, p6, p7, p8, p9, p2]
            neighbours = sum(ring[:-1])
            transitions = sum(((a == 0) & (b == 1)).astype(np.uint8) for a, b in zip(ring[:-1], ring[1:]))
            if step == 0:
                side = (p2 * p4 * p6 == 0) & (p4 * p6 * p8 == 0)
            else:
                side = (p2 * p4 * p8 == 0) & (p2 * p6 * p8 == 0)
            remove = (p[1:-1, 1:-1] == 1) & (neighbours >= 2) & (neighbours <= 6) & (transitions == 1) & side
            if remove.any():
                mask[1:-1, 1:-1][remove] = 0
                changed = True
        if not changed:
            return mask[1:-1, 1:-1].astype(bool)


def thin(digit, rng):
    """Drawn with a one-pixel pen, 200 pixels tall, on a 300×300 white canvas."""
    strokes = _thinned(_resized(digit, 200) > 128)
    ink = _on((THIN_SIZE, THIN_SIZE), strokes.astype(np.float32), 50, 50)
    return _encoded(((1.0 - ink) * 255).astype(np.uint8), "PNG")


RENDERINGS = {
    function.__name__: function for function in (mnist_png, upscaled, paper, off_centre_rgb, rgba, gif, bmp, jpeg, thin)
}


def rendered(digits, name, seed=0):
    """The encoded files of `digits` (uint8 `[n, 28, 28]`, white on black) in rendering `name`."""
    rng = np.random.default_rng(seed)
    return np.array([RENDERINGS[name](digit, rng) for digit in digits], dtype=object)


def best_shift_correlation(images, references):
    """Per image, the best correlation with its reference over whole-pixel shifts of at most
    one pixel (MNIST rounds the centre of mass to a whole pixel too)."""
    references = references.reshape(len(references), -1)
    references = references - references.mean(1, keepdims=True)
    best = np.full(len(images), -1.0)
    for shift in ((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)):
        shifted = np.roll(images, shift, axis=(1, 2)).reshape(len(images), -1)
        shifted = shifted - shifted.mean(1, keepdims=True)
        norms = np.sqrt((shifted**2).sum(1) * (references**2).sum(1)) + 1e-12
        best = np.maximum(best, (shifted * references).sum(1) / norms)
    return best


def stroke_widths(images, threshold=0.15):
    """Mean stroke width of each image (ink above `threshold`): twice the area over the perimeter."""
    mask = np.pad(images > threshold, ((0, 0), (1, 1), (1, 1))).astype(np.int8)
    perimeter = np.abs(np.diff(mask, axis=1)).sum((1, 2)) + np.abs(np.diff(mask, axis=2)).sum((1, 2))
    return 2.0 * mask.sum((1, 2)) / np.maximum(perimeter, 1)
