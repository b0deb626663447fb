"""The segmentation app: a class per pixel, served as masks from raw image bytes."""

import keras
import numpy as np
import tensorflow as tf

from apps.core.app import App, SampleRequest
from apps.core.decode_checks import data_errors_as_source_errors
from apps.core.images import read_displayed_image, read_image_files, serialized_example
from apps.segmentation import data as segmentation_data
from apps.segmentation.builtin import builtin_split
from apps.segmentation.config import MODELS, SegmentationConfig
from apps.segmentation.evaluation import confusion_matrix, evaluate_segmenter, overlay, scores
from apps.segmentation.masks import mask_png
from apps.segmentation.model import build_model
from apps.segmentation.signatures import SERVING_RULES, make_signatures

SAMPLE_SIZES = ((48, 64), (40, 40))  # sample requests: images of two sizes, padded in `mask`


def search_space(hp, config):
    """Depth, width, decoder and loss mix, as values of `SegmentationConfig` (the shared
    choices add the learning rate, optimizer, batch size and epochs). Depths whose
    resolution `image_size` cannot halve that often are left out."""
    deepest = max(2, (config.image_size & -config.image_size).bit_length() - 1)
    depths = [depth for depth in (config.depth - 1, config.depth, config.depth + 1) if 2 <= depth <= deepest]
    widths = sorted({max(4, config.width // 2), config.width, config.width * 2})
    return config.replace(
        model=hp.Choice("model", list(MODELS)),
        depth=hp.Choice("depth", depths or [config.depth]),
        width=hp.Choice("width", widths),
        dice_weight=hp.Choice("dice_weight", [0.0, 0.25, 0.5, 0.75]),
    )


class SegmentationApp(App):
    name = "segmentation"
    title = "Semantic segmentation (residual U-Net / DeepLabV3+)"
    config_class = SegmentationConfig
    default_tfds_name = "oxford_iiit_pet"
    objective = "val_mean_iou"
    objective_direction = "max"
    field_metric_names = ("mean_iou", "pixel_accuracy")
    record_features = segmentation_data.RECORD_FEATURES
    known_limits = (
        "Every pixel gets one of the training data's classes: there is no 'none of these' answer.",
        "Images are squeezed to --image-size squares for the network and its answer is resized back, so "
        "structures a few pixels wide at that size (thin borders, far objects) are lost and aspect ratios "
        "far from square lose detail.",
        "Image files whose header announces more pixels than --max-image-pixels are refused.",
    )

    def tiny_config(self):
        """64 builtin 32×32 images, a width-4 two-stage U-Net, one epoch: seconds. Its export
        refuses image files over 10,000 pixels, so tests reach the limit with small files."""
        return SegmentationConfig(
            data="builtin",
            epochs=1,
            batch_size=16,
            image_size=32,
            width=4,
            depth=2,
            stage_blocks=1,
            max_examples=64,
            validation_fraction=0.25,
            warmup_epochs=0.0,
            max_image_pixels=10_000,
            seed=7,
        )

    # ----- data ---------------------------------------------------------------
    def load_tfds(self, name, config):
        return segmentation_data.load_tfds_pets(name, config)

    def load_files(self, path, config):
        return segmentation_data.load_files(path, config)

    def load_builtin(self, config):
        return segmentation_data.load_builtin(config)

    def splits_from_raw(self, raw, config):
        return segmentation_data.splits_from_raw(raw, config)

    # ----- model --------------------------------------------------------------
    def build_model(self, config, data):
        return build_model(config, len(data.class_names), data.train_examples)

    search_space = staticmethod(search_space)

    def train(self, model, data, config, run=None, callbacks=(), initial_epoch=0):
        """`App.train`, a bad example met in the stream raised as a one-line `DataSourceError`."""
        with data_errors_as_source_errors():
            return super().train(model, data, config, run, callbacks, initial_epoch)

    def field_metrics(self, model, dataset, config):
        """Mean IoU and pixel accuracy over the whole (validation) `dataset`."""
        num_classes = model.output_shape[-1]
        matrix = confusion_matrix(
            model,
            dataset,
            num_classes,
            config.ignore_class,
            lambda probabilities: self.decode_predictions(probabilities, model),
        )
        values = scores(matrix, [str(index) for index in range(num_classes)])
        return {name: values[name] for name in self.field_metric_names}

    def decode_predictions(self, predictions, model):
        """Class probabilities `(batch, height, width, classes)` → `mask`, the most probable
        class of each pixel (uint8)."""
        return {"mask": keras.ops.cast(keras.ops.argmax(predictions, axis=-1), "uint8")}

    def evaluate(self, model, data, config, run):
        with data_errors_as_source_errors():
            return evaluate_segmenter(
                model, data, config, run, lambda probabilities: self.decode_predictions(probabilities, model)
            )

    def report(self, metrics):
        lines = [super().report(metrics)]
        lines += [f"iou[{name}]: {value:.4f}" for name, value in metrics.get("per_class_iou", {}).items()]
        return "\n".join(lines)

    # ----- serving ------------------------------------------------------------
    def serving_signatures(self, model, config):
        return make_signatures(model, self.decode_predictions, config)

    def app_descriptor(self, model, config, training):
        """The page uploads a photo to `serving_default` and colours the answered mask by class id."""
        return {
            **super().app_descriptor(model, config, training),
            "image_input": "image_bytes",
            "max_image_pixels": config.max_image_pixels,
        }

    def serving_rules(self, config):
        return SERVING_RULES

    def sample_requests(self, config):
        images, _ = builtin_split("test", 64)
        sized = [
            tf.cast(tf.image.resize(images[index], size), tf.uint8).numpy() for index, size in enumerate(SAMPLE_SIZES)
        ]
        encoded = np.array([tf.io.encode_png(image).numpy() for image in sized], dtype=object)
        return [
            SampleRequest("serving_default", {"image_bytes": encoded}),
            SampleRequest("serve_uint8", {"images": images[:2]}),
            SampleRequest(
                "serve_tf_example", {"examples": np.array([serialized_example(item) for item in encoded], dtype=object)}
            ),
        ]

    def request_from_cli(self, items):
        return SampleRequest("serving_default", {"image_bytes": read_image_files(items)})

    def answer_files(self, outputs, items):
        """Per image: `<image>.mask.png`, the answered mask as a palette PNG (values the class
        ids, coloured as the figures colour them), and `<image>.overlay.png`, the mask drawn over
        the user's own image file."""
        from apps.core.cli_inputs import output_stem

        files = {}
        for index, (item, png) in enumerate(zip(items, np.asarray(outputs["mask_png_bytes"], dtype=object).ravel())):
            mask = tf.io.decode_png(bytes(png), channels=1).numpy()[..., 0]
            image = read_displayed_image(item)
            drawn = overlay(image[None], mask[None], int(mask.max()) + 1, ignore_class=-1)[0]
            files[f"{output_stem(item, index)}.mask.png"] = mask_png(mask)
            files[f"{output_stem(item, index)}.overlay.png"] = tf.io.encode_png(
                keras.ops.convert_to_numpy(drawn).astype(np.uint8)
            ).numpy()
        return files

    def format_response(self, outputs, items):
        """One line per image: its size and the share of its pixels in each class present, by
        name when the answer carries the model's `class_names`."""
        masks = np.asarray(outputs["mask"])
        pngs = np.asarray(outputs["mask_png_bytes"], dtype=object).ravel()
        names = [str(name) for name in outputs.get("class_names", ())]
        lines = []
        for item, mask, png in zip(items, masks, pngs):
            height, width = _png_size(png)
            own = mask[:height, :width]
            ids, counts = np.unique(own, return_counts=True)
            shares = ", ".join(f"{_class_name(names, int(i))} {count / own.size:.1%}" for i, count in zip(ids, counts))
            lines.append(f"{item}: {width}x{height} mask, {shares}")
        return "\n".join(lines)


def _class_name(names, index):
    return names[index] if index < len(names) else f"class {index}"


def _png_size(png):
    """`(height, width)` from a PNG's header."""
    png = bytes(png)
    return int.from_bytes(png[20:24], "big"), int.from_bytes(png[16:20], "big")
