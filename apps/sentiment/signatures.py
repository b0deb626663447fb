"""Serving signatures: raw review strings in, positive probability and label out."""

import tensorflow as tf

from apps.sentiment.data import CLASS_NAMES

TEXT_INPUT = "text"
THRESHOLD = 0.5


def classify_texts(model, texts):
    """`{"probability", "label", "sentiment"}` for a `(batch,)` string tensor.

    The vectorizers truncate texts longer than the model's sequence length and pad
    shorter ones; an empty text has no tokens and is still answered.
    """
    probability = tf.reshape(model.classifier(model.vectorize(texts), training=False), [-1])
    label = tf.cast(probability >= THRESHOLD, tf.int64)
    return {
        "probability": probability,
        "label": label,
        "sentiment": tf.gather(tf.constant(CLASS_NAMES), label),
    }


def make_signatures(model):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=TEXT_INPUT)])
    def serving_default(text):
        return classify_texts(model, text)

    return {"serving_default": serving_default}
