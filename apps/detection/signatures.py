"""Serving signatures of the detector, built by `apps.core.images`, answering as the TF Object
Detection API does.

Each image is resized (stretched) to the network's square inside the graph; the decode
step (`DetectionApp.decode_predictions`: per-class non-max suppression, score threshold,
maximum detections, all baked in from the config) answers boxes relative to the
image, so they hold for the image's own size.

- `serving_default`: `image_bytes`, a batch of PNG/JPEG/GIF/BMP files of any sizes, mixed;
- `serve_uint8`: `input_tensor`, a uint8 batch `[batch, height, width, 3]` (the OD API's input);
- `serve_tf_example`: `examples`, serialized `tf.Example`s with the file in `image/encoded`.

Outputs: `detection_boxes` float32 `[batch, max_detections, 4]` normalised `[ymin, xmin, ymax,
xmax]`, `detection_scores`, `detection_classes` (class id + 1, float32, as OD API label maps),
`detection_class_names` (string, empty past `num_detections`) and `num_detections` (float32).
"""

import tensorflow as tf

from apps.core.images import ImageSignatures


def make_signatures(model, decode_predictions, config):
    """`{name: tf.function}` of the three detection signatures."""
    size = (config.image_size, config.image_size)
    names = tf.constant(["", *model.get_layer("detections").class_names])

    def prepare_image(image):
        return tf.image.resize(image, size, antialias=True)

    def prepare_batch(images):
        return tf.image.resize(images, size, antialias=True)

    def answer(prepared):
        outputs = dict(decode_predictions(model(prepared, training=False), model))
        outputs["detection_class_names"] = tf.gather(names, tf.cast(outputs["detection_classes"], tf.int32))
        return outputs

    signatures = ImageSignatures(answer, channels=3, max_pixels=config.max_image_pixels)
    return {
        "serving_default": signatures.from_bytes(prepare_image),
        "serve_uint8": signatures.from_tensors(prepare_batch, shape=(None, None, 3), input_name="input_tensor"),
        "serve_tf_example": signatures.from_examples(prepare_image),
    }
