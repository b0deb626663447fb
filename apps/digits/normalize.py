"""A picture of a digit → MNIST's 28×28 layout, the way MNIST itself was made (TensorFlow ops,
run inside the serving signature).

MNIST's digits were fitted into a 20×20 box keeping their aspect ratio (anti-aliased), then
placed in a 28×28 frame with their centre of mass at the centre, white on black. A photo or
scan is brought to that form: gray → ink bright on dark (inverted when the ink is dark) →
the paper's own level removed, even where it is uneven → faint noise dropped → the ink's
bounding box → 20×20 (strokes far thinner than MNIST's thickened) → centre of mass at (14, 14).
A digit already in MNIST's layout (28×28, white on black, in the box, centred) is left as it is.
"""

import tensorflow as tf

from apps.digits.data import IMAGE_SIZE

DIGIT_BOX = 20
# The paper's level is estimated on this many cells per side, over windows of half the image.
PAPER_CELLS = 32
PAPER_WINDOW = 16
# Paper grain: within this many standard deviations of the paper's mean level.
NOISE_SIGMAS = 6.0
# The paper's level and grain come from its 10th and 30th percentiles (so the ink may cover
# up to 70% of the picture): for Gaussian grain those lie 1.28 σ and 0.52 σ below the mean.
PAPER_QUANTILES = (0.1, 0.3)
PAPER_QUANTILE_SIGMAS = (1.2816, 0.5244)
# Ink below this fraction of the strongest ink does not extend the bounding box.
BOX_THRESHOLD = 0.35
# Strokes are measured where the ink is above this fraction of the strongest ink.
STROKE_THRESHOLD = 0.15
# Stroke widths in box pixels: 99% of MNIST's digits are above THIN_STROKE (median 2.5);
# thinner strokes (a 1 px pen on a large canvas) are thickened to STROKE.
THIN_STROKE = 1.5
STROKE = 2.0
# MNIST's digits were anti-aliased from bilevel scans, hence their crisp strokes. A digit
# shrunk by more than this is made bilevel first, so the box gets crisp strokes rather than
# the blur of the picture and of the resampling.
BILEVEL_BELOW_SCALE = 0.75
# Thickening runs at this many times the box resolution, then the result is downscaled.
WORK_SCALE = 4


def _quantiles(values, fractions):
    """Quantiles of values in [0, 1], from a 256-bin histogram (no sort of millions of pixels)."""
    bins = tf.cast(tf.round(tf.clip_by_value(tf.reshape(values, [-1]), 0.0, 1.0) * 255.0), tf.int32)
    counts = tf.cast(tf.cumsum(tf.math.bincount(bins, minlength=256, maxlength=256)), tf.float32)
    below = counts[tf.newaxis] >= tf.constant(fractions)[:, tf.newaxis] * counts[-1]
    return tf.cast(tf.argmax(below, axis=1), tf.float32) / 255.0


def _as_batch(image):
    return image[tf.newaxis, :, :, tf.newaxis]


def _dilated(image, window):
    """A maximum filter whose window is known only at run time."""
    pooled = tf.raw_ops.MaxPoolV2(
        input=_as_batch(image), ksize=[1, window, window, 1], strides=[1, 1, 1, 1], padding="SAME"
    )
    return tf.ensure_shape(pooled, [1, None, None, 1])[0, :, :, 0]


def bright_ink(gray):
    """Ink bright on a dark background: the side of the median that holds the more extreme
    (3×3-smoothed, so one noisy pixel does not decide) values is the ink."""
    median = _quantiles(gray, [0.5])[0]
    smooth = tf.nn.avg_pool2d(_as_batch(gray), 3, 1, "SAME")
    dark_ink = median - tf.reduce_min(smooth) > tf.reduce_max(smooth) - median
    return tf.where(dark_ink, 1.0 - gray, gray)


def _paper(ink):
    """The paper's level under each pixel: a morphological opening (minimum, then maximum:
    no bias on a lighting gradient) of the image averaged over a grid of cells (so that grain
    does not bias the minimum), with a window of half the image, wider than any stroke,
    interpolated back."""
    cells = tf.image.resize(_as_batch(ink), [PAPER_CELLS, PAPER_CELLS], method="area")
    opened = tf.nn.max_pool2d(-tf.nn.max_pool2d(-cells, PAPER_WINDOW, 1, "SAME"), PAPER_WINDOW, 1, "SAME")
    return tf.image.resize(opened, tf.shape(ink), method="bilinear")[0, :, :, 0]


def without_background(ink):
    """`ink` minus the paper's level, with the paper's grain set to zero: pixels whose 3×3
    mean is within `NOISE_SIGMAS` of the paper's mean, so that an isolated noisy pixel goes
    but a one-pixel stroke stays."""
    residual = ink - _paper(ink)
    smooth = tf.nn.avg_pool2d(_as_batch(residual), 3, 1, "SAME")[0, :, :, 0]
    low, high = tf.unstack(_quantiles((smooth + 1.0) / 2.0, PAPER_QUANTILES) * 2.0 - 1.0)
    sigma = (high - low) / (PAPER_QUANTILE_SIGMAS[0] - PAPER_QUANTILE_SIGMAS[1])
    paper_grain = smooth <= high + (PAPER_QUANTILE_SIGMAS[1] + NOISE_SIGMAS) * sigma
    return tf.where(paper_grain, 0.0, tf.nn.relu(residual))


def _stroke_width(mask):
    """Mean stroke width in pixels: twice the area over the perimeter."""
    mask = tf.pad(tf.cast(mask, tf.float32), [[1, 1], [1, 1]])
    perimeter = tf.reduce_sum(tf.abs(mask[1:] - mask[:-1])) + tf.reduce_sum(tf.abs(mask[:, 1:] - mask[:, :-1]))
    return 2.0 * tf.reduce_sum(mask) / tf.maximum(perimeter, 1.0)


def _resized(image, scale):
    """`image` scaled by `scale`, with MNIST's crisp strokes: area-averaged down from its
    bilevel version (ink above half its peak) when the scale is below `BILEVEL_BELOW_SCALE`;
    up, interpolated 4 times finer, made bilevel there and area-averaged."""
    size = tf.maximum(1, tf.cast(tf.round(tf.cast(tf.shape(image), tf.float32) * scale), tf.int32))

    def down():
        bilevel = tf.cast(image > 0.5 * tf.reduce_max(image), tf.float32)
        source = tf.where(scale < BILEVEL_BELOW_SCALE, bilevel, image)
        return tf.image.resize(source[..., tf.newaxis], size, method="area")[..., 0]

    def up():
        fine = tf.image.resize(image[..., tf.newaxis], 4 * size, method="bilinear")
        bilevel = tf.cast(fine > 0.5 * tf.reduce_max(fine), tf.float32)
        return tf.image.resize(bilevel, size, method="area")[..., 0]

    return tf.case([(scale < 1.0, down), (scale > 1.0, up)], default=lambda: image)


def _thickened(crop, side, stroke):
    """`crop` (longest side `side`) in the box, its strokes widened from `stroke` to
    `STROKE` box pixels by a maximum filter at `WORK_SCALE` times the box resolution."""
    growth = STROKE - stroke
    scale = (DIGIT_BOX - growth) / side  # room for the growth inside the box
    work_scale = tf.minimum(1.0, WORK_SCALE * scale)
    work = _resized(crop, work_scale)
    work = tf.minimum(1.0, 2.0 * work / tf.reduce_max(work))  # even brightness along the stroke
    window = tf.cast(tf.round(growth * work_scale / scale), tf.int32) + 1
    work = tf.pad(work, [[window // 2, (window - 1) // 2]] * 2)
    work = _dilated(work, window)
    return _resized(work, scale / work_scale)


def _centre_of_mass(image):
    size = tf.shape(image)
    mass = tf.reduce_sum(image)
    return (
        tf.reduce_sum(tf.reduce_sum(image, 1) * tf.range(size[0], dtype=tf.float32)) / mass,
        tf.reduce_sum(tf.reduce_sum(image, 0) * tf.range(size[1], dtype=tf.float32)) / mass,
    )


def _centred(box):
    """`box` in the 28×28 frame with its centre of mass on pixel (14, 14), whole-pixel shifts."""
    size = tf.shape(box)
    centre_y, centre_x = _centre_of_mass(box)
    middle = IMAGE_SIZE // 2
    top = tf.clip_by_value(tf.cast(tf.floor(middle - centre_y + 0.5), tf.int32), 0, IMAGE_SIZE - size[0])
    left = tf.clip_by_value(tf.cast(tf.floor(middle - centre_x + 0.5), tf.int32), 0, IMAGE_SIZE - size[1])
    return tf.image.pad_to_bounding_box(box[..., tf.newaxis], top, left, IMAGE_SIZE, IMAGE_SIZE)[..., 0]


def _in_mnist_layout(ink):
    """True for a 28×28 digit whose ink fits the 20×20 box and whose centre of mass is within
    half a pixel of (14, 14): MNIST's own images, left as they are."""

    def laid_out():
        rows = tf.where(tf.reduce_any(ink > 0, 1))[:, 0]
        columns = tf.where(tf.reduce_any(ink > 0, 0))[:, 0]
        side = tf.maximum(rows[-1] + 1 - rows[0], columns[-1] + 1 - columns[0])
        centre = tf.stack(_centre_of_mass(ink))
        return (side <= DIGIT_BOX) & tf.reduce_all(tf.abs(centre - IMAGE_SIZE // 2) <= 0.5)

    is_mnist_sized = tf.reduce_all(tf.equal(tf.shape(ink), IMAGE_SIZE)) & (tf.reduce_max(ink) > 0)
    return tf.cond(is_mnist_sized, laid_out, lambda: False)


def _laid_out(ink):
    """Non-empty ink → the digit fitted in the 20×20 box and centred in 28×28. The box is
    fitted to the ink above `BOX_THRESHOLD`; when the digit shrinks, fainter ink within a
    box pixel around it (anti-aliasing, JPEG ringing) comes along without counting in the size."""
    peak = tf.reduce_max(ink)
    mask = ink > BOX_THRESHOLD * peak
    rows = tf.where(tf.reduce_any(mask, 1))[:, 0]
    columns = tf.where(tf.reduce_any(mask, 0))[:, 0]
    side = tf.maximum(rows[-1] + 1 - rows[0], columns[-1] + 1 - columns[0])
    margin = side // DIGIT_BOX
    size = tf.shape(ink, out_type=tf.int64)
    crop = ink[
        tf.maximum(rows[0] - margin, 0) : tf.minimum(rows[-1] + 1 + margin, size[0]),
        tf.maximum(columns[0] - margin, 0) : tf.minimum(columns[-1] + 1 + margin, size[1]),
    ]
    side = tf.cast(side, tf.float32)
    stroke = _stroke_width(crop > STROKE_THRESHOLD * peak) * DIGIT_BOX / side
    box = tf.cond(
        stroke < THIN_STROKE, lambda: _thickened(crop, side, stroke), lambda: _resized(crop, DIGIT_BOX / side)
    )
    return _centred(box / tf.reduce_max(box))


def _normalized(ink):
    ink = without_background(ink)
    return tf.cond(
        tf.reduce_max(ink) > 0, lambda: _laid_out(ink), lambda: tf.zeros([IMAGE_SIZE, IMAGE_SIZE], tf.float32)
    )


def normalize_digit(image):
    """uint8 `[height, width, 1]` (any size) → float32 `[28, 28]` in [0, 1], MNIST's layout;
    all zeros when the image holds no ink, unchanged when it is in MNIST's layout already."""
    ink = bright_ink(tf.cast(image[..., 0], tf.float32) / 255.0)
    digit = tf.cond(_in_mnist_layout(ink), lambda: ink, lambda: _normalized(ink))
    return tf.ensure_shape(digit, [IMAGE_SIZE, IMAGE_SIZE])
