"""The shared image signatures: formats, the pixel limit read from headers, clear errors."""

import io
import re
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageOps
from tensorflow.core.protobuf import config_pb2

from apps.core import images
from apps.core.images import EXAMPLE_FEATURE, ImageSignatures

LIMIT = 1000


def encoded(pixels, image_format, mode=None, **options):
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode).save(buffer, format=image_format, **options)
    return buffer.getvalue()


def png_header_only(width, height):
    """A valid PNG signature and IHDR announcing `width`×`height`, with a few rows of data."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width + 1) * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def animated_gif(frames):
    buffer = io.BytesIO()
    first, *rest = [Image.fromarray(frame) for frame in frames]
    first.save(buffer, format="GIF", save_all=True, append_images=rest)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def decode():
    """`decode(bytes, channels=1, max_pixels=LIMIT)` as the signatures run it (in a graph)."""
    functions = {}

    def run(data, channels=1, max_pixels=LIMIT):
        key = (channels, max_pixels)
        if key not in functions:
            functions[key] = tf.function(
                lambda value: images.decode_image(value, channels, max_pixels, "x"), autograph=False
            )
        return functions[key](tf.constant(data)).numpy()

    return run


def error_of(function, *arguments):
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        function(*arguments)
    return error.value.message


RGB = np.random.default_rng(0).integers(0, 256, (6, 9, 3), dtype=np.uint8)
GRAY = RGB[..., 0]


@pytest.mark.parametrize(
    "pixels, image_format, mode",
    [
        (GRAY, "PNG", None),
        (RGB, "PNG", None),
        (GRAY, "BMP", None),
        (RGB, "BMP", None),
        (GRAY, "GIF", None),
    ],
)
def test_lossless_formats_decode_to_their_pixels(decode, pixels, image_format, mode):
    data = encoded(pixels, image_format, mode)
    expected_rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    np.testing.assert_array_equal(decode(data, channels=3), expected_rgb)
    gray = decode(data, channels=1)
    assert gray.shape == pixels.shape[:2] + (1,) and gray.dtype == np.uint8
    if pixels.ndim == 2:
        np.testing.assert_array_equal(gray[..., 0], pixels)


def test_jpeg_decodes(decode):
    gray = decode(encoded(np.full((8, 12), 90, np.uint8), "JPEG", quality=95))
    assert gray.shape == (8, 12, 1) and np.all(np.abs(gray.astype(int) - 90) <= 2)


def test_alpha_is_composited_over_white(decode):
    pixels = np.zeros((2, 2, 4), np.uint8)
    pixels[0, 0] = (10, 20, 30, 255)  # opaque
    pixels[1, 1, 3] = 128  # half-transparent black
    rgb = decode(encoded(pixels, "PNG"), channels=3)
    np.testing.assert_array_equal(rgb[0, 0], (10, 20, 30))
    np.testing.assert_array_equal(rgb[0, 1], (255, 255, 255))
    assert abs(int(rgb[1, 1, 0]) - 127) <= 1
    gray_alpha = np.asarray(Image.fromarray(pixels[..., 0]).convert("LA"))
    assert decode(encoded(gray_alpha, "PNG", "LA"), channels=1).shape == (2, 2, 1)


def test_gif_first_frame_only_and_frames_do_not_add_up_against_the_limit(decode):
    frames = [np.full((20, 30), 40 * index, np.uint8) for index in range(6)]
    data = animated_gif(frames)
    assert len(frames) * frames[0].size > LIMIT
    np.testing.assert_array_equal(decode(data)[..., 0], frames[0])


def first_frame_offset(data):
    """Where a GIF's first image descriptor starts: after the colour table and extensions."""
    packed = data[10]
    position = 13 + (3 * 2 ** ((packed & 7) + 1) if packed & 0x80 else 0)
    while data[position] == 0x21:
        position += 2
        while data[position]:
            position += data[position] + 1
        position += 1
    assert data[position] == 0x2C
    return position


def test_gif_frame_larger_than_its_screen_is_refused(decode):
    data = bytearray(encoded(GRAY, "GIF"))
    frame = first_frame_offset(data)
    data[frame + 5 : frame + 9] = struct.pack("<HH", 5000, 4000)
    assert "a 5000x4000 image (20000000 pixels) is over the limit of 1000 pixels" in error_of(decode, bytes(data))


def test_a_png_bomb_is_refused_from_its_header_without_decoding(decode):
    bomb = png_header_only(20000, 20000)
    assert len(bomb) < 1000
    message = error_of(decode, bomb, 1, images.DEFAULT_MAX_PIXELS)
    # A decoder would fail on the missing pixel data instead: the header alone was read.
    assert "x: a 20000x20000 image (400000000 pixels) is over the limit of 16777216 pixels per image" in message


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "GIF", "BMP"])
def test_every_format_is_measured_from_its_header(decode, image_format):
    assert decode(encoded(np.zeros((40, 25), np.uint8), image_format)).shape == (40, 25, 1)
    over = encoded(np.zeros((40, 26), np.uint8), image_format)
    assert "x: a 26x40 image (1040 pixels) is over the limit of 1000 pixels per image" in error_of(decode, over)


@pytest.mark.parametrize(
    "data, expected",
    [
        (b"hello world", "x: not a PNG, JPEG, GIF or BMP image (11 bytes)"),
        (b"", "x: not a PNG, JPEG, GIF or BMP image (0 bytes)"),
        (png_header_only(0, 5), "x: the image is empty (0x5 pixels)"),
        (encoded(GRAY, "PNG")[:40], "Invalid PNG"),
        (encoded(GRAY, "JPEG")[:30], "Invalid JPEG data"),
    ],
)
def test_bad_bytes_get_clear_errors(decode, data, expected):
    assert expected in error_of(decode, data)


def test_signatures_name_the_image_and_decode_examples_like_bytes():
    signatures = ImageSignatures(
        lambda batch: {"mean": tf.reduce_mean(batch, axis=[1, 2])}, channels=1, max_pixels=LIMIT
    )

    def prepare(image):
        return tf.image.resize(tf.cast(image, tf.float32), (4, 4))[..., 0]

    from_bytes, from_examples = signatures.from_bytes(prepare), signatures.from_examples(prepare)
    files = [encoded(GRAY, "PNG"), encoded(255 - GRAY, "BMP")]
    examples = [
        tf.train.Example(
            features=tf.train.Features(
                feature={EXAMPLE_FEATURE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[data]))}
            )
        ).SerializeToString()
        for data in files
    ]
    by_bytes = from_bytes(tf.constant(files))["mean"].numpy()
    np.testing.assert_allclose(from_examples(tf.constant(examples))["mean"].numpy(), by_bytes)
    np.testing.assert_allclose(by_bytes[0] + by_bytes[1], 255.0, atol=1.0)
    assert "image_bytes[1]: not a PNG" in error_of(from_bytes, tf.constant([files[0], b"junk"]))
    assert "examples[0] (image/encoded): not a PNG" in error_of(
        from_examples,
        tf.constant(
            [
                tf.train.Example(
                    features=tf.train.Features(
                        feature={EXAMPLE_FEATURE: tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"junk"]))}
                    )
                ).SerializeToString()
            ]
        ),
    )
    assert "image/encoded" in error_of(from_examples, tf.constant([tf.train.Example().SerializeToString()]))


def test_tensor_signature_refuses_images_over_the_limit():
    signatures = ImageSignatures(lambda batch: {"sum": tf.reduce_sum(batch, axis=[1, 2])}, max_pixels=LIMIT)
    serve = signatures.from_tensors(lambda batch: tf.cast(batch[..., 0], tf.int32), shape=(None, None, 3))
    assert serve(tf.ones([2, 10, 100, 3], tf.uint8))["sum"].numpy().tolist() == [1000, 1000]
    assert "images: images of 101x10 pixels are over the limit of 1000" in error_of(
        serve, tf.ones([1, 10, 101, 3], tf.uint8)
    )


def test_shape_checks_hold_where_tf_serving_runs_them(tmp_path):
    """TF Serving feeds any shape to a session (with the graph optimizer on): the checks
    must not be folded away by the declared shapes."""
    signatures = ImageSignatures(lambda batch: {"sum": tf.reduce_sum(batch, axis=[1, 2])}, channels=1)
    module = tf.Module()
    module.tensors = signatures.from_tensors(lambda batch: tf.cast(batch, tf.float32), shape=(4, 4))
    module.files = signatures.from_bytes(lambda image: tf.cast(image[:1, :1, 0], tf.float32))
    tf.saved_model.save(module, str(tmp_path), signatures={"tensors": module.tensors, "files": module.files})
    graph = tf.Graph()
    with graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(tmp_path))
        for name, value, expected in [
            ("tensors", np.zeros((1, 16), np.uint8), "images: expected shape [batch, 4, 4] (uint8), got [1, 16]"),
            ("tensors", np.zeros((2, 4, 4, 1), np.uint8), "expected shape [batch, 4, 4] (uint8), got [2, 4, 4, 1]"),
            ("files", np.array([[b"x"]], dtype=object), "image_bytes: expected shape [batch] (string), got [1, 1]"),
        ]:
            signature = meta_graph.signature_def[name]
            (feed,), (fetch,) = signature.inputs.values(), signature.outputs.values()
            # As TF Serving runs a signature: no shape check in front of the graph.
            run = session._make_callable_from_options(config_pb2.CallableOptions(feed=[feed.name], fetch=[fetch.name]))
            with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(expected)):
                run(value)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="channels"):
        ImageSignatures(lambda batch: {}, channels=4)
    with pytest.raises(ValueError, match="max_pixels"):
        ImageSignatures(lambda batch: {}, max_pixels=0)


# An asymmetric picture: which way it is turned shows in every corner.
ARROW = np.zeros((16, 24, 3), np.uint8)
ARROW[:8, :8] = (250, 0, 0)
ARROW[:, 16:, 1] = 250
ARROW[12:, :, 2] = 250


def exif_segment(orientation, byte_order):
    """A JPEG APP1 "Exif" segment whose IFD0 holds one entry, the orientation tag."""
    endian = "<" if byte_order == b"II" else ">"
    tiff = byte_order + struct.pack(endian + "HI", 42, 8)
    tiff += struct.pack(endian + "H", 1) + struct.pack(endian + "HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += struct.pack(endian + "I", 0)
    body = b"Exif\0\0" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


@pytest.mark.parametrize("orientation", range(1, 9))
def test_jpegs_are_turned_as_their_exif_orientation_says_as_viewers_show_them(decode, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encoded(ARROW, "JPEG", quality=100, subsampling=0, exif=exif.tobytes())  # after a JFIF segment
    with Image.open(io.BytesIO(data)) as image:
        shown = np.asarray(ImageOps.exif_transpose(image).convert("RGB")).astype(int)
    decoded = decode(data, channels=3, max_pixels=images.DEFAULT_MAX_PIXELS).astype(int)
    assert decoded.shape == shown.shape and np.abs(decoded - shown).max() <= 8
    if orientation == 1:
        assert np.abs(decoded - ARROW).max() <= 8


def test_big_endian_exif_right_after_the_start_of_image_is_read(decode):
    plain = encoded(ARROW, "JPEG", quality=100, subsampling=0)
    turned = plain[:2] + exif_segment(6, b"MM") + plain[2:]
    np.testing.assert_array_equal(
        decode(turned, channels=3, max_pixels=images.DEFAULT_MAX_PIXELS),
        np.rot90(decode(plain, channels=3, max_pixels=images.DEFAULT_MAX_PIXELS), -1),
    )


def test_answers_are_drawn_on_the_image_as_the_signatures_see_it(tmp_path):
    path = tmp_path / "turned.jpg"
    plain = encoded(ARROW, "JPEG", quality=100, subsampling=0)
    path.write_bytes(plain[:2] + exif_segment(8, b"II") + plain[2:])
    assert images.read_displayed_image(path).shape == (24, 16, 3)


def test_a_jpeg_too_small_for_the_size_it_declares_is_refused_before_decoding(decode):
    data = bytearray(encoded(np.full((16, 16), 128, np.uint8), "JPEG"))
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", 4000, 4000)
    data += bytes(4300 - len(data))
    message = error_of(decode, bytes(data), 1, images.DEFAULT_MAX_PIXELS)
    assert (
        "x: a 4300-byte JPEG cannot hold the 4000x4000 pixels its header declares (a JPEG takes at least "
        "1 byte per 2048 pixels): the file is cut short or forged"
    ) in message


@pytest.mark.parametrize("mode, bits", [("1", 1), ("P", 8)])
def test_bmps_read_wrongly_or_not_at_all_are_refused_naming_the_input(decode, mode, bits):
    image = Image.fromarray(RGB).convert(mode) if mode == "1" else Image.fromarray(RGB).quantize(8)
    buffer = io.BytesIO()
    image.save(buffer, format="BMP")
    assert (
        f"x: a BMP of {bits} bits per pixel (compression 0); BMPs are read with 24 or 32 bits per pixel, "
        "or 8 with a gray palette, uncompressed"
    ) in error_of(decode, buffer.getvalue())


def test_float_tensors_must_be_finite():
    signatures = ImageSignatures(lambda batch: {"sum": tf.reduce_sum(batch, axis=[1, 2])}, max_pixels=LIMIT)
    serve = signatures.from_tensors(lambda batch: batch, shape=(4, 4), dtype=tf.float32)
    batch = np.zeros((3, 4, 4), np.float32)
    assert serve(tf.constant(batch))["sum"].numpy().tolist() == [0, 0, 0]
    for value in (np.inf, -np.inf, np.nan):
        batch[1, 2, 3] = value
        assert "images[1]: holds a value that is not finite (NaN or Infinity)" in error_of(serve, tf.constant(batch))
