"""Serving signature of the churn model: raw column values in, probability and decision out.

Each input is a 1-D batch (`[None]`) named after its CSV column (`tf.string` for
categories, `tf.float32` for numbers, NaN for a missing number), so a REST client
sends `{"instances": [{"gender": "Female", "tenure": 5, ...}]}`.
"""

import tensorflow as tf

from apps.churn.model import THRESHOLD_LAYER


def input_specs(model):
    """`{input name: tf.TensorSpec([None], dtype)}` from the model's (batch, 1) inputs."""
    specs = {}
    for name, tensor in model.input.items():
        dtype = tf.string if "string" in str(tensor.dtype) else tf.float32
        specs[name] = tf.TensorSpec([None], dtype, name=name)
    return specs


def make_signatures(model):
    threshold_layer = model.get_layer(THRESHOLD_LAYER)
    specs = input_specs(model)

    @tf.function(input_signature=[specs])
    def serving_default(features):
        batch = {name: tf.reshape(features[name], [-1, 1]) for name in specs}
        probability = tf.reshape(model(batch, training=False), [-1])
        return {
            "churn_probability": probability,
            "churn": tf.greater_equal(probability, threshold_layer.threshold),
        }

    return {"serving_default": serving_default}
