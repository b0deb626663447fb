"""Image grids (TensorFlow ops: the evaluation plots and the serving signature share them)."""

import math

import tensorflow as tf

GRID_PADDING = 2


def grid_columns(count, classes=None):
    """Columns of a grid of `count` images: one row per class when `classes` is given,
    otherwise as square as possible."""
    if classes:
        return -(-count // classes)
    return max(1, math.ceil(math.sqrt(count)))


def tile_images(images, columns):
    """uint8 `[N, H, W, C]` → one uint8 image `[rows × (H + 2), columns × (W + 2), C]`, row by row,
    empty cells and a 2-pixel border black. `columns` may be a tensor."""
    images = tf.convert_to_tensor(images)
    count = tf.shape(images)[0]
    columns = tf.maximum(tf.cast(columns, tf.int32), 1)
    rows = (count + columns - 1) // columns
    padded = tf.pad(images, [[0, rows * columns - count], [GRID_PADDING // 2] * 2, [GRID_PADDING // 2] * 2, [0, 0]])
    shape = tf.shape(padded)
    cells = tf.reshape(padded, [rows, columns, shape[1], shape[2], shape[3]])
    return tf.reshape(tf.transpose(cells, [0, 2, 1, 3, 4]), [rows * shape[1], columns * shape[2], shape[3]])


def png_grid(images, columns):
    """PNG bytes (a scalar string tensor) of `tile_images(images, columns)`."""
    return tf.io.encode_png(tile_images(images, columns))
