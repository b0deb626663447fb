"""The sentiment app's answer from the model's output: the one place a probability
becomes a label (evaluation, in-process predict and the serving signature use it)."""

import keras
import numpy as np

from apps.sentiment.data import CLASS_NAMES

THRESHOLD = 0.5  # P(positive) from which a review is answered positive
# `label` is served as int64; JAX has no int64 unless x64 is enabled (it would warn each call).
LABEL_DTYPE = "int32" if keras.backend.backend() == "jax" else "int64"


def decode_predictions(probabilities):
    """`{"probability": float32 (batch,), "label": int64 0/1, "sentiment": class name}`
    from the positive probabilities `(batch, 1)` (or `(batch,)`)."""
    probability = keras.ops.reshape(keras.ops.cast(probabilities, "float32"), (-1,))
    label = keras.ops.cast(keras.ops.greater_equal(probability, THRESHOLD), LABEL_DTYPE)
    return {"probability": probability, "label": label, "sentiment": class_names_of(label)}


def class_names_of(labels):
    """The class name of each label: a string tensor for TensorFlow tensors (eager or in
    the serving signature), a NumPy array of `str` for the other backends' tensors
    (Keras has no string tensors)."""
    import tensorflow as tf

    if tf.is_tensor(labels):
        return tf.gather(tf.constant(CLASS_NAMES), labels)
    return np.asarray(CLASS_NAMES, dtype=object)[keras.ops.convert_to_numpy(labels)]
