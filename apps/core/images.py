"""Serving signatures of the image apps: encoded image bytes, `tf.Example`s and image tensors.

The idea of Model Garden's `export_base`: one place turns what clients send into
model inputs, so every image app accepts the same formats, refuses the same bad
inputs with the same messages, and bounds the same costs. An app supplies

- `answer(prepared)`: a batch of prepared inputs → the outputs dict, i.e.
  `app.decode_predictions(model(x, training=False), model)`;
- per signature, a `prepare` function: for encoded images, one decoded uint8 image
  `[height, width, channels]` → the model input of that image (any nested structure
  of fixed-shape tensors, e.g. `{"image": resized, "size": original height/width}`
  for apps that map their answer back to the original size); for tensors, the
  whole checked batch → the same structure, batched.

Encoded images may be PNG, JPEG, GIF (first frame) or BMP (24 or 32 bits per pixel,
or 8 with a gray palette), of any size, gray, RGB or with alpha (composited over
white, as a browser shows it). A JPEG is turned as its EXIF orientation tag says, as
browsers and photo viewers show it: the model sees, and answers about (boxes, masks),
the image as the user sees it. Before anything is decoded, the size in the image's
header is checked against a limit on pixels per image (`max_pixels`), and a JPEG too
small to hold the pixels its header declares is refused: a small file cannot make the
server allocate gigabytes, nor decode a made-up image. Float tensors must be finite.
Bad inputs fail with `InvalidArgumentError` (HTTP 400) whose message names the
input, what was expected and what arrived.
"""

import tensorflow as tf

DEFAULT_MAX_PIXELS = 4096 * 4096
EXAMPLE_FEATURE = "image/encoded"  # the key of the TF Object Detection API and Model Garden
FORMATS = "PNG, JPEG, GIF or BMP"
_HEADER_BYTES = 34
_PNG_MAGIC = (0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A)
_PNG_IHDR = (0x49, 0x48, 0x44, 0x52)
_JPEG_MAGIC = (0xFF, 0xD8, 0xFF)
_GIF_MAGICS = ((0x47, 0x49, 0x46, 0x38, 0x37, 0x61), (0x47, 0x49, 0x46, 0x38, 0x39, 0x61))
_BMP_MAGIC = (0x42, 0x4D)
_GIF_EXTENSION, _GIF_IMAGE, _GIF_TRAILER = 0x21, 0x2C, b"\x3b"
# BMP header fields: bits per pixel, compression (0: none, 3: bit fields), header size, colours.
_BMP_BITS, _BMP_COMPRESSION, _BMP_HEADER_SIZE, _BMP_COLOURS = 28, 30, 14, 46
# A Huffman-coded JPEG spends at least one bit on each 8×8 block it codes, and codes at least
# one block per 256 pixels (a component sampled at a quarter of the width): a smaller file
# is cut short or forged (libjpeg would invent the missing pixels).
_JPEG_MIN_PIXELS_PER_BYTE = 2048
# EXIF sits in an APP1 segment (at most 64 KiB) among a JPEG's first segments.
_EXIF_SEARCH_BYTES, _JPEG_MAX_SEGMENTS, _EXIF_MAX_ENTRIES = 1 << 17, 64, 64
_EXIF_HEADER = (0x45, 0x78, 0x69, 0x66, 0, 0)  # "Exif\0\0"
_EXIF_ORIENTATION_TAG = 0x0112
# A GIF's first frame is found by walking its blocks; a frame of `max_pixels` pixels
# needs at most ~1.5 bytes per pixel in 255-byte sub-blocks, far below this bound.
_GIF_MAX_BLOCKS = 1 << 17


def _starts_with(head, magic, offset=0):
    return tf.reduce_all(tf.equal(head[offset : offset + len(magic)], tf.constant(magic, tf.int64)))


def _number(head, start, count, big_endian=False):
    digits = head[start : start + count]
    if big_endian:
        digits = tf.reverse(digits, [0])
    return tf.reduce_sum(digits * tf.constant([256**i for i in range(count)], tf.int64))


def _signed32(value):
    return tf.where(value >= 2**31, value - 2**32, value)


def _header_size(encoded, head):
    """`(known, is_gif, height, width)` from the PNG/GIF/BMP header or the JPEG frame header."""
    is_png = _starts_with(head, _PNG_MAGIC) & _starts_with(head, _PNG_IHDR, 12)
    is_gif = _starts_with(head, _GIF_MAGICS[0]) | _starts_with(head, _GIF_MAGICS[1])
    is_bmp = _starts_with(head, _BMP_MAGIC)
    is_jpeg = _starts_with(head, _JPEG_MAGIC)
    png = tf.stack([_number(head, 20, 4, big_endian=True), _number(head, 16, 4, big_endian=True)])
    gif = tf.stack([_number(head, 8, 2), _number(head, 6, 2)])
    bmp = tf.stack([tf.abs(_signed32(_number(head, 22, 4))), _signed32(_number(head, 18, 4))])
    size = tf.where(is_png, png, tf.where(is_gif, gif, tf.where(is_bmp, bmp, tf.zeros([2], tf.int64))))
    size = tf.cond(is_jpeg, lambda: tf.cast(tf.image.extract_jpeg_shape(encoded)[:2], tf.int64), lambda: size)
    return is_png | is_gif | is_bmp | is_jpeg, is_gif, size[0], size[1]


def _byte_reader(encoded):
    """`byte(index)`: the int64 byte(s) of `encoded` at a scalar or vector index, 0 past the end."""
    data = tf.io.decode_raw(encoded, tf.uint8)
    last = tf.size(data, out_type=tf.int64) - 1

    def byte(index):
        index = tf.convert_to_tensor(index, tf.int64)
        value = tf.cast(tf.gather(data, tf.clip_by_value(index, 0, tf.maximum(last, 0))), tf.int64)
        return tf.where((index >= 0) & (index <= last), value, tf.zeros_like(index))

    return byte


def _gif_first_frame(encoded):
    """`(bytes, frame_height, frame_width)`: the GIF cut after its first frame (TensorFlow's
    decoder reads every frame into memory before it returns the first), and the size in that
    frame's own descriptor (which may exceed the logical screen)."""
    byte = _byte_reader(encoded)

    def after_sub_blocks(position):  # sub-blocks: a length byte, that many bytes; length 0 ends them
        (end,) = tf.while_loop(
            lambda position: byte(position) > 0,
            lambda position: (position + byte(position) + 1,),
            (position,),
            maximum_iterations=_GIF_MAX_BLOCKS,
        )
        return end + 1

    def table_size(packed):  # bytes of a colour table announced by a packed-fields byte
        return tf.where(packed >= 128, 3 * tf.bitwise.left_shift(tf.constant(1, tf.int64), packed % 8 + 1), 0)

    first_block = 13 + table_size(byte(10))
    (frame,) = tf.while_loop(
        lambda position: tf.equal(byte(position), _GIF_EXTENSION),
        lambda position: (after_sub_blocks(position + 2),),
        (first_block,),
        maximum_iterations=_GIF_MAX_BLOCKS,
    )
    is_frame = tf.equal(byte(frame), _GIF_IMAGE)
    width = tf.where(is_frame, byte(frame + 5) + 256 * byte(frame + 6), 0)
    height = tf.where(is_frame, byte(frame + 7) + 256 * byte(frame + 8), 0)
    end = tf.cond(is_frame, lambda: after_sub_blocks(frame + 11 + table_size(byte(frame + 9))), lambda: frame)
    # Cut even where the file does not hold a whole frame: the decoder then refuses what
    # is left instead of reading every frame.
    return tf.strings.substr(encoded, 0, tf.cast(end, tf.int32)) + _GIF_TRAILER, height, width


def _assert(condition, *parts):
    """An `InvalidArgumentError` with the message `parts` (strings, string or number tensors)
    joined, unless `condition`."""

    def text(part):
        if not tf.is_tensor(part):
            return str(part)
        return part if part.dtype == tf.string else tf.strings.as_string(part)

    return tf.debugging.Assert(condition, [tf.strings.join([text(part) for part in parts])])


def _checked_bytes(encoded, label, max_pixels):
    """The encoded image (a GIF cut after its first frame), once its header says it is
    a known format of a size within `max_pixels`."""
    head = tf.cast(tf.io.decode_raw(encoded, tf.uint8, fixed_length=_HEADER_BYTES), tf.int64)
    length = tf.strings.length(encoded)
    known, is_gif, height, width = _header_size(encoded, head)
    with tf.control_dependencies([_assert(known, label, f": not a {FORMATS} image (", length, " bytes)")]):
        encoded, frame_height, frame_width = tf.cond(
            is_gif, lambda: _gif_first_frame(encoded), lambda: (encoded, height, width)
        )
    height, width = tf.maximum(height, frame_height), tf.maximum(width, frame_width)
    pixels = height * width
    is_jpeg = _starts_with(head, _JPEG_MAGIC)
    checks = [
        _assert((height > 0) & (width > 0), label, ": the image is empty (", width, "x", height, " pixels)"),
        _assert(
            pixels <= max_pixels,
            label,
            ": a ",
            width,
            "x",
            height,
            " image (",
            pixels,
            f" pixels) is over the limit of {max_pixels} pixels per image",
        ),
        _assert(
            ~is_jpeg | (tf.cast(length, tf.int64) * _JPEG_MIN_PIXELS_PER_BYTE >= pixels),
            label,
            ": a ",
            length,
            "-byte JPEG cannot hold the ",
            width,
            "x",
            height,
            " pixels its header declares (a JPEG "
            f"takes at least 1 byte per {_JPEG_MIN_PIXELS_PER_BYTE} pixels): the file is cut short or forged",
        ),
        _checked_bmp(encoded, head, label),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(encoded)


def _checked_bmp(encoded, head, label):
    """An assertion that a BMP is one TensorFlow's decoder reads as it is shown: 24 or 32 bits
    per pixel, or 8 with a gray palette (it reads palette indices as gray levels), uncompressed."""
    bits, compression = _number(head, _BMP_BITS, 2), _number(head, _BMP_COMPRESSION, 4)
    layout_ok = (tf.equal(bits, 24) | tf.equal(bits, 32) | tf.equal(bits, 8)) & (
        tf.equal(compression, 0) | tf.equal(compression, 3)
    )

    def gray_palette():
        byte = _byte_reader(tf.strings.substr(encoded, 0, _BMP_HEADER_SIZE + 124 + 4 * 256))
        colours = byte(_BMP_COLOURS) + 256 * byte(_BMP_COLOURS + 1)
        colours = tf.where(tf.equal(colours, 0), tf.constant(256, tf.int64), colours)
        start = _BMP_HEADER_SIZE + byte(_BMP_HEADER_SIZE) + 256 * byte(_BMP_HEADER_SIZE + 1)
        levels = tf.range(256, dtype=tf.int64)
        entries = start + 4 * levels
        gray = (
            tf.equal(byte(entries), levels) & tf.equal(byte(entries + 1), levels) & tf.equal(byte(entries + 2), levels)
        )
        return tf.reduce_all(gray | (levels >= colours))

    is_bmp = _starts_with(head, _BMP_MAGIC)
    readable = tf.cond(is_bmp & layout_ok & tf.equal(bits, 8), gray_palette, lambda: layout_ok)
    return _assert(
        ~is_bmp | readable,
        label,
        ": a BMP of ",
        bits,
        " bits per pixel (compression ",
        compression,
        "); BMPs are read with 24 or 32 bits per pixel, or 8 with a gray palette, uncompressed",
    )


def _with_channels(image, channels):
    """uint8 `[h, w, 1|2|3|4]` → `[h, w, channels]`; alpha is composited over white."""

    def composite():
        color = tf.cast(image[..., :-1], tf.float32)
        alpha = tf.cast(image[..., -1:], tf.float32) / 255.0
        return tf.cast(tf.round(color * alpha + 255.0 * (1.0 - alpha)), tf.uint8)

    opaque = tf.cond(tf.equal(tf.shape(image)[-1] % 2, 0), composite, lambda: image)
    is_gray = tf.equal(tf.shape(opaque)[-1], 1)
    if channels == 1:
        converted = tf.cond(is_gray, lambda: opaque, lambda: tf.image.rgb_to_grayscale(opaque[..., :3]))
    else:
        converted = tf.cond(is_gray, lambda: tf.image.grayscale_to_rgb(opaque), lambda: opaque[..., :3])
    return tf.ensure_shape(converted, [None, None, channels])


def decode_image(encoded, channels, max_pixels=DEFAULT_MAX_PIXELS, label="image_bytes"):
    """One encoded image (a scalar string) → uint8 `[height, width, channels]`.

    Args:
        encoded: PNG, JPEG, GIF (its first frame is decoded) or BMP bytes.
        channels: 1 (gray) or 3 (RGB).
        max_pixels: images whose header announces more pixels are refused before decoding.
        label: how error messages name this input, e.g. `image_bytes[2]`.
    """
    encoded = _checked_bytes(encoded, label, max_pixels)
    image = tf.io.decode_image(encoded, channels=0, dtype=tf.uint8, expand_animations=False)
    is_jpeg = tf.equal(tf.strings.substr(encoded, 0, len(_JPEG_MAGIC)), bytes(_JPEG_MAGIC))
    orientation = tf.cond(is_jpeg, lambda: _jpeg_orientation(encoded), lambda: tf.constant(1, tf.int64))
    return _with_channels(_displayed(image, orientation), channels)


def _jpeg_orientation(encoded):
    """The EXIF orientation of a JPEG (1-8: tag 0x0112 of IFD0 in its APP1 "Exif" segment), 1
    when it has none or an unreadable one."""
    byte = _byte_reader(tf.strings.substr(encoded, 0, _EXIF_SEARCH_BYTES))

    def is_exif(position):
        header = tf.stack([byte(position + 4 + i) for i in range(len(_EXIF_HEADER))])
        return tf.equal(byte(position + 1), 0xE1) & tf.reduce_all(tf.equal(header, tf.constant(_EXIF_HEADER, tf.int64)))

    def walks_on(position):  # a marker other than start of scan / end of image, not yet the EXIF one
        marker = byte(position + 1)
        return tf.equal(byte(position), 0xFF) & ~tf.equal(marker, 0xDA) & ~tf.equal(marker, 0xD9) & ~is_exif(position)

    (segment,) = tf.while_loop(
        walks_on,
        lambda position: (position + 2 + 256 * byte(position + 2) + byte(position + 3),),
        (tf.constant(2, tf.int64),),
        maximum_iterations=_JPEG_MAX_SEGMENTS,
    )
    tiff = segment + 10
    little_endian = tf.equal(byte(tiff), 0x49)  # "II"; "MM" is big-endian

    def number(offset, count):
        digits = [byte(offset + i) for i in range(count)]
        little = sum(digit * 256**i for i, digit in enumerate(digits))
        big = sum(digit * 256 ** (count - 1 - i) for i, digit in enumerate(digits))
        return tf.where(little_endian, little, big)

    directory = tiff + number(tiff + 4, 4)
    index = tf.range(_EXIF_MAX_ENTRIES, dtype=tf.int64)
    entries = directory + 2 + 12 * index
    is_orientation = tf.equal(number(entries, 2), _EXIF_ORIENTATION_TAG) & (index < number(directory, 2))
    value = tf.reduce_max(tf.where(is_orientation, number(entries + 8, 2), 0))
    found = is_exif(segment) & tf.reduce_any(is_orientation) & (value >= 1) & (value <= 8)
    return tf.where(found, value, tf.constant(1, tf.int64))


def _displayed(image, orientation):
    """`image` turned as EXIF `orientation` says (PIL's `ImageOps.exif_transpose`)."""

    def transposed():
        return tf.transpose(image, [1, 0, 2])

    return tf.switch_case(
        tf.cast(orientation - 1, tf.int32),
        [
            lambda: image,
            lambda: tf.reverse(image, [1]),  # mirrored
            lambda: tf.reverse(image, [0, 1]),  # upside down
            lambda: tf.reverse(image, [0]),  # mirrored upside down
            transposed,
            lambda: tf.reverse(transposed(), [1]),  # turned a quarter clockwise
            lambda: tf.reverse(transposed(), [0, 1]),  # transverse
            lambda: tf.reverse(transposed(), [0]),  # turned a quarter anticlockwise
        ],
    )


def _shape_text(shape):
    return tf.strings.reduce_join(tf.strings.as_string(shape), separator=", ")


def check_shape(tensor, expected, name):
    """`tensor` once its runtime shape matches `expected` (None: any size); otherwise an
    `InvalidArgumentError` naming the input, the expected and the actual shape. TF Serving
    feeds tensors of any shape, whatever the signature declares."""
    shape = tf.shape(tensor, out_type=tf.int64)
    # Not tf.rank/tf.size(shape): the optimizer folds those into the declared rank.
    rank = tf.size(tf.where(shape >= 0), out_type=tf.int64)
    rank_ok = tf.equal(rank, len(expected))
    padded = tf.concat([shape, tf.zeros([len(expected)], tf.int64)], 0)[: len(expected)]
    sizes_ok = tf.reduce_all([tf.equal(padded[i], size) for i, size in enumerate(expected) if size is not None])
    wanted = ", ".join(
        "batch" if i == 0 and size is None else "any" if size is None else str(size) for i, size in enumerate(expected)
    )
    check = _assert(
        rank_ok & sizes_ok, name, f": expected shape [{wanted}] ({tensor.dtype.name}), got [", _shape_text(shape), "]"
    )
    with tf.control_dependencies([check]):
        return tf.identity(tensor)


class ImageSignatures:
    """Builds an image app's serving signatures around its `answer` function.

    Args:
        answer: a batch of prepared inputs (the structure `prepare` returns, batched) →
            the outputs dict (`app.decode_predictions(model(x, training=False), model)`).
        channels: 1 to decode images as gray, 3 as RGB.
        max_pixels: decoded pixels allowed per image (height × width, from the header).

    Example:
        ```python
        signatures = ImageSignatures(lambda x: app.decode_predictions(model(x), model), channels=3)
        prepare = lambda image: tf.image.resize(image, (224, 224))
        {"serving_default": signatures.from_bytes(prepare),
         "serve_tf_example": signatures.from_examples(prepare),
         "serve_uint8": signatures.from_tensors(lambda images: tf.image.resize(images, (224, 224)),
                                                shape=(None, None, 3))}
        ```
    """

    def __init__(self, answer, channels=3, max_pixels=DEFAULT_MAX_PIXELS):
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 (gray) or 3 (RGB), got {channels}.")
        if max_pixels < 1:
            raise ValueError(f"max_pixels must be positive, got {max_pixels}.")
        self.answer = answer
        self.channels = channels
        self.max_pixels = int(max_pixels)
        self._decoders = {}

    def _decoder(self, prepare):
        """A tf.function: `(encoded [batch], labels [batch])` → `prepare` of each decoded image,
        batched. Images are decoded one at a time, so memory grows with the largest image, not
        with the batch; `labels` name them in errors. One per `prepare`, shared by the bytes and
        `tf.Example` signatures (one graph to trace and save)."""
        if prepare not in self._decoders:
            image = tf.TensorSpec([None, None, self.channels], tf.uint8)
            traced = tf.function(prepare, autograph=False).get_concrete_function(image)
            signature = tf.nest.map_structure(
                lambda tensor: tf.TensorSpec(tensor.shape, tensor.dtype), traced.structured_outputs
            )

            @tf.function(autograph=False, input_signature=[tf.TensorSpec([None], tf.string)] * 2)
            def decode(encoded, labels):
                return tf.map_fn(
                    lambda item: prepare(decode_image(item[0], self.channels, self.max_pixels, item[1])),
                    (encoded, labels),
                    fn_output_signature=signature,
                    parallel_iterations=1,
                )

            self._decoders[prepare] = decode
        return self._decoders[prepare]

    @staticmethod
    def _labels(count, input_name, detail=""):
        """`input_name[i]detail` for i < count: how errors name each image."""
        indices = tf.strings.as_string(tf.range(count))
        return tf.strings.join([input_name + "[", indices, "]" + detail])

    def from_bytes(self, prepare, input_name="image_bytes"):
        """A signature taking a `[batch]` string tensor of encoded images."""
        decode = self._decoder(prepare)

        @tf.function(autograph=False, input_signature=[tf.TensorSpec([None], tf.string, name=input_name)])
        def serve(encoded):
            encoded = check_shape(encoded, [None], input_name)
            return self.answer(decode(encoded, self._labels(tf.shape(encoded)[0], input_name)))

        return serve

    def from_examples(self, prepare, input_name="examples", feature=EXAMPLE_FEATURE):
        """A signature taking a `[batch]` string tensor of serialized `tf.Example`s, each
        holding its encoded image in the bytes feature `feature`."""
        decode = self._decoder(prepare)

        @tf.function(autograph=False, input_signature=[tf.TensorSpec([None], tf.string, name=input_name)])
        def serve(examples):
            examples = check_shape(examples, [None], input_name)
            encoded = tf.io.parse_example(examples, {feature: tf.io.FixedLenFeature([], tf.string)})[feature]
            return self.answer(decode(encoded, self._labels(tf.shape(encoded)[0], input_name, f" ({feature})")))

        return serve

    def from_tensors(self, prepare, shape, dtype=tf.uint8, input_name="images"):
        """A signature taking a batch of images of `shape` (per image, None: any size);
        `prepare` maps the whole checked batch. Images over `max_pixels` are refused, and
        float images holding NaN or Infinity."""

        @tf.function(autograph=False, input_signature=[tf.TensorSpec([None, *shape], dtype, name=input_name)])
        def serve(images):
            images = check_shape(images, [None, *shape], input_name)
            size = tf.shape(images, out_type=tf.int64)
            pixels = size[1] * size[2]
            checks = [
                _assert(
                    pixels <= self.max_pixels,
                    input_name,
                    ": images of ",
                    size[2],
                    "x",
                    size[1],
                    f" pixels are over the limit of {self.max_pixels} pixels per image",
                )
            ]
            if images.dtype.is_floating:
                checks.append(_finite_check(images, input_name))
            with tf.control_dependencies(checks):
                return self.answer(prepare(tf.identity(images)))

        return serve


def _finite_check(images, input_name):
    """An assertion that every value is finite, naming the first image that is not."""
    finite = tf.reduce_all(tf.math.is_finite(images), axis=list(range(1, images.shape.rank)))
    first = tf.argmin(tf.cast(finite, tf.int32), output_type=tf.int64)
    return _assert(
        tf.reduce_all(finite), input_name, "[", first, "]: holds a value that is not finite (NaN or Infinity)"
    )


def serialized_example(encoded):
    """A `tf.Example` holding the encoded image `encoded` under `EXAMPLE_FEATURE`, serialized:
    what the `from_examples` signatures take."""
    feature = tf.train.Feature(bytes_list=tf.train.BytesList(value=[encoded]))
    return tf.train.Example(features=tf.train.Features(feature={EXAMPLE_FEATURE: feature})).SerializeToString()


def read_image_files(paths):
    """The bytes of each image file in `paths`, as the object array a bytes signature takes;
    `InputError` naming the files that do not exist."""
    from pathlib import Path

    import numpy as np

    from apps.core.cli_inputs import is_file, shown
    from apps.core.errors import InputError

    missing = [path for path in map(str, paths) if not is_file(path)]
    if missing:
        raise InputError(f"No such image file(s): {', '.join(map(shown, missing))}")
    return np.array([Path(path).read_bytes() for path in paths], dtype=object)


def read_displayed_image(path, channels=3):
    """The user's image file as the serving signatures see it (`decode_image`: turned as its EXIF
    orientation says), uint8 `[height, width, channels]`: what answers about it (boxes, masks)
    are drawn on. No pixel limit: the file is the user's own, already answered."""
    from pathlib import Path

    return decode_image(tf.constant(Path(path).read_bytes()), channels, max_pixels=2**62, label=str(path)).numpy()


def write_sample_pngs(images, folder, count=4):
    """The first `count` of `images` (uint8 arrays) as `folder/test_<i>.png`, files to try
    `kapps <app> predict` on; returns their paths."""
    from pathlib import Path

    import numpy as np
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, image in enumerate(images[:count]):
        path = folder / f"test_{index}.png"
        Image.fromarray(np.asarray(image, np.uint8)).save(path)
        paths.append(path)
    return paths
