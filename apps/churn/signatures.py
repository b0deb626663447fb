"""Serving signature of the churn model: raw column values in, probability and decision out.

Each input is a 1-D batch (`[None]`) named after its CSV column (`tf.string` for
categories, `tf.float32` for numbers), so a REST client sends
`{"instances": [{"gender": "Female", "tenure": 5, ...}]}`. A missing number is NaN, a
missing category "". The signature encodes the rows with the model's own preprocessing
(`ChurnModel.preprocessing`, the one it trained with) and returns
`ChurnApp.decode_predictions` of the network's output.

Rows are checked first, in the graph, so REST, gRPC and `kapps churn predict` refuse
the same rows with the same message: an INVALID_ARGUMENT error (HTTP 400) that names
the row and the column of each problem (the first `MAX_LISTED_ERRORS`, then a count):

* a number that is not finite: ±Infinity, or beyond float32's range such as 1e400
  (NaN is the one way to say "missing", and is imputed);
* a row in which every column is missing (NaN or blank): nothing to answer from.

Requests with a missing or an unknown input never reach the graph: the server refuses
inputs that differ from the signature's.
"""

import tensorflow as tf

from apps.churn.table import NUMERIC

MAX_LISTED_ERRORS = 5


def input_specs(preprocessing):
    """`{input name: tf.TensorSpec([None], dtype)}`, one per raw column."""
    return {
        column.input_name: tf.TensorSpec(
            [None], tf.float32 if column.kind == NUMERIC else tf.string, name=column.input_name
        )
        for column in preprocessing.columns
    }


def _row_messages(rows, text):
    return tf.strings.join(["row ", tf.strings.as_string(rows), text])


def row_errors(features, columns):
    """The message of every problem in the rows, ordered by row."""
    rows, messages, missing = [], [], []
    for column in columns:
        values = features[column.input_name]
        if column.kind == NUMERIC:
            bad = tf.where(tf.math.is_inf(values))[:, 0]
            rows.append(bad)
            messages.append(
                tf.strings.join(
                    [
                        _row_messages(bad, f", column {column.input_name}: "),
                        tf.strings.as_string(tf.gather(values, bad)),
                        " is not a finite number (send NaN for a missing value)",
                    ]
                )
            )
            missing.append(tf.math.is_nan(values))
        else:
            missing.append(tf.equal(tf.strings.strip(values), ""))
    empty = tf.where(tf.reduce_all(tf.stack(missing), axis=0))[:, 0]
    rows.append(empty)
    messages.append(_row_messages(empty, ": every column is missing (NaN or blank)"))
    rows, messages = tf.concat(rows, 0), tf.concat(messages, 0)
    return tf.gather(messages, tf.argsort(rows, stable=True))


def check_rows(features, columns):
    """An assert op failing with InvalidArgumentError that lists the rows' problems."""
    messages = row_errors(features, columns)
    count = tf.size(messages)
    listed = tf.strings.reduce_join(messages[:MAX_LISTED_ERRORS], separator="; ")
    more = tf.strings.join(["; and ", tf.strings.as_string(count - MAX_LISTED_ERRORS), " more"])
    message = tf.where(count > MAX_LISTED_ERRORS, tf.strings.join([listed, more]), listed)
    return tf.debugging.Assert(tf.equal(count, 0), [message])


def make_signatures(model, decode_predictions):
    preprocessing = model.preprocessing
    specs = input_specs(preprocessing)

    @tf.function(input_signature=[specs])
    def serving_default(features):
        with tf.control_dependencies([check_rows(features, preprocessing.columns)]):
            encoded = preprocessing.encode(features)
        return decode_predictions(model(encoded, training=False), model)

    return {"serving_default": serving_default}
