"""Class colours of masks, one palette for every figure and file: the evaluation's overlays,
`predict`'s overlay and its mask PNGs, which are palette PNGs as Pascal VOC's are (pixel values
are class ids, the palette colours them), so they open as colour pictures and read as ids."""

import io

import numpy as np

IGNORED_COLOR = (224, 224, 192)  # Pascal VOC's colour of its ignored id 255


def _voc_color(index):
    """Pascal VOC's colour of id `index` (its bits spread over red, green and blue)."""
    red = green = blue = 0
    for shift in range(8):
        red |= ((index >> 0) & 1) << (7 - shift)
        green |= ((index >> 1) & 1) << (7 - shift)
        blue |= ((index >> 2) & 1) << (7 - shift)
        index >>= 3
    return red, green, blue


def _palette():
    """256 RGB colours: matplotlib's tab10 for ids 0-9, the light tab20 hues for 10-19, VOC's
    for the others, VOC's ignored colour for 255."""
    from matplotlib import colormaps

    tab10, tab20 = colormaps["tab10"], colormaps["tab20"]
    colors = [tab10(index)[:3] for index in range(10)] + [tab20(2 * index + 1)[:3] for index in range(10)]
    palette = np.array([_voc_color(index) for index in range(256)], np.uint8)
    palette[:20] = np.round(np.array(colors) * 255).astype(np.uint8)
    palette[255] = IGNORED_COLOR
    return palette


PALETTE = _palette()


def class_colors(count):
    """`{class id: [r, g, b]}` of the first `count` ids (`keras.visualization`'s colour mapping)."""
    return {index: PALETTE[index].tolist() for index in range(count)}


def colorize(masks):
    """uint8 RGB pictures of class-id masks `[..., h, w]`."""
    return PALETTE[np.asarray(masks, np.uint8)]


def mask_png(mask):
    """PNG bytes of a class-id mask `[h, w]`: mode "P", values the ids, colours the palette."""
    from PIL import Image

    mask = np.ascontiguousarray(mask, np.uint8)
    image = Image.frombytes("P", (mask.shape[1], mask.shape[0]), mask.tobytes())
    image.putpalette(PALETTE.ravel().tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
