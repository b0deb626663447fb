"""Serving signatures of the DCGAN generator.

- `serving_default`: `latent` float32 `[N, latent_dim]` (and `labels` int64 `[N]` when the
  generator is conditional) → `images` uint8 `[N, H, W, C]`.
- `serve_seed`: one row per grid: `seed` int64 `[N]`, `count` int32 `[N]` (the same in every
  row), `label` int64 `[N]` (-1: any class; a conditional generator then draws the classes in
  turn, 0, 1, 2, ...) → `images` uint8 `[N, count, H, W, C]` and `images_png_bytes`, one PNG
  grid per row. The same seed gives the same images.

Bad inputs fail with `InvalidArgumentError` (HTTP 400) naming the input: a latent of the
wrong width, a count ≤ 0, more than `max_images` images in all (latent rows, or the counts of
all rows), an unknown label, a label for a generator that is not conditional. The graph
checks what it sees; `serving_rules` lets the kapps server check the whole request before it
splits it into chunks or batches.
"""

import tensorflow as tf

from apps.core.images import _assert, check_shape
from apps.dcgan.grid import png_grid

ANY_LABEL = -1


def seeded_latents(seed, count, latent_dim):
    """`count` noise vectors that depend only on `seed` (stateless random numbers)."""
    return tf.random.stateless_normal([count, latent_dim], seed=tf.stack([seed, tf.constant(0, tf.int64)]))


def _checked_labels(labels, num_classes, name, allow_any=False):
    low = ANY_LABEL if allow_any else 0
    inside = tf.reduce_all((labels >= low) & (labels < num_classes))
    allowed = f"{low} (any class) to {num_classes - 1}" if allow_any else f"0 to {num_classes - 1}"
    with tf.control_dependencies(
        [
            _assert(
                inside,
                name,
                f": unknown label; the classes are {allowed}, got ",
                tf.strings.reduce_join(tf.strings.as_string(labels), separator=", "),
            )
        ]
    ):
        return tf.identity(labels)


def serving_rules(max_images):
    """The request limits the server checks on the whole request (`serving.request_rules`):
    `max_images` latent rows, or images over all rows of `serve_seed`, which the server never
    splits (its rows must agree on `count`)."""
    return {
        "serving_default": {"max_rows": {"latent": max_images}},
        "serve_seed": {"max_sum": {"count": max_images}, "whole_requests": True},
    }


def make_signatures(model, decode_predictions, max_images):
    """`{name: tf.function}` of the two DCGAN signatures; `max_images` bounds each request."""
    latent_dim, num_classes, conditional = model.latent_dim, model.num_classes, model.conditional

    def generate(latent, labels):
        outputs = model({"latent": latent, "labels": tf.cast(labels, tf.int32)}, training=False)
        return decode_predictions(outputs, model)["images"]

    def checked_latent(latent):
        latent = check_shape(latent, [None, latent_dim], "latent")
        rows = tf.shape(latent)[0]
        with tf.control_dependencies(
            [
                _assert(
                    rows <= max_images, "latent: ", rows, f" rows is over the limit of {max_images} images per request"
                )
            ]
        ):
            return tf.identity(latent)

    latent_spec = tf.TensorSpec([None, latent_dim], tf.float32, name="latent")
    if conditional:

        @tf.function(input_signature=[latent_spec, tf.TensorSpec([None], tf.int64, name="labels")])
        def serving_default(latent, labels):
            latent = checked_latent(latent)
            labels = check_shape(labels, [None], "labels")
            same_rows = tf.equal(tf.shape(labels)[0], tf.shape(latent)[0])
            with tf.control_dependencies(
                [
                    _assert(
                        same_rows,
                        "labels: expected one label per latent row (",
                        tf.shape(latent)[0],
                        "), got ",
                        tf.shape(labels)[0],
                    )
                ]
            ):
                labels = _checked_labels(labels, num_classes, "labels")
            return {"images": generate(latent, labels)}
    else:

        @tf.function(input_signature=[latent_spec])
        def serving_default(latent):
            latent = checked_latent(latent)
            return {"images": generate(latent, tf.zeros([tf.shape(latent)[0]], tf.int64))}

    def grid(row):
        seed, count, label = row
        latent = seeded_latents(seed, count, latent_dim)
        turns = tf.cast(tf.range(count) % num_classes, tf.int64)
        labels = tf.where(label == ANY_LABEL, turns, tf.fill([count], label))
        images = generate(latent, labels)
        columns = tf.cast(tf.math.ceil(tf.sqrt(tf.cast(count, tf.float32))), tf.int32)
        return images, png_grid(images, columns)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.int64, name="seed"),
            tf.TensorSpec([None], tf.int32, name="count"),
            tf.TensorSpec([None], tf.int64, name="label"),
        ]
    )
    def serve_seed(seed, count, label):
        seed, count, label = (
            check_shape(value, [None], name) for value, name in ((seed, "seed"), (count, "count"), (label, "label"))
        )
        rows = tf.shape(seed)[0]
        checks = [
            _assert(
                tf.equal(tf.shape(count)[0], rows) & tf.equal(tf.shape(label)[0], rows),
                "seed, count, label: expected one value of each per row, got ",
                rows,
                ", ",
                tf.shape(count)[0],
                ", ",
                tf.shape(label)[0],
            ),
            _assert(
                tf.reduce_all((count >= 1) & (count <= max_images)),
                f"count: must be from 1 to {max_images} images, got ",
                tf.strings.reduce_join(tf.strings.as_string(count), separator=", "),
            ),
            _assert(
                tf.reduce_sum(tf.cast(count, tf.int64)) <= max_images,
                "count: ",
                tf.reduce_sum(tf.cast(count, tf.int64)),
                f" images in all is over the limit of {max_images} images per request",
            ),
            _assert(
                tf.reduce_all(tf.equal(count, count[:1])),
                "count: every row of one request must ask for the same number of images, got ",
                tf.strings.reduce_join(tf.strings.as_string(count), separator=", "),
            ),
        ]
        if not conditional:
            checks.append(
                _assert(
                    tf.reduce_all(tf.equal(label, ANY_LABEL)),
                    "label: this generator is not class-conditional; send label -1 (any class)",
                )
            )
        with tf.control_dependencies(checks):
            label = _checked_labels(label, num_classes, "label", allow_any=True)
            seed, count = tf.identity(seed), tf.identity(count)
        images, pngs = tf.map_fn(
            grid,
            (seed, count, label),
            parallel_iterations=1,
            fn_output_signature=(
                tf.TensorSpec([None, *model.generator.output.shape[1:]], tf.uint8),
                tf.TensorSpec([], tf.string),
            ),
        )
        return {"images": images, "images_png_bytes": pngs}

    return {"serving_default": serving_default, "serve_seed": serve_seed}
