"""Serving signatures: raw review strings in, the decoded answer out."""

import tensorflow as tf

TEXT_INPUT = "text"


def make_signatures(app, model):
    """`serving_default`: a `(batch,)` string tensor → `app.decode_predictions` of the
    model's probabilities (`probability`, `label`, `sentiment`).

    The vectorizers read at most `text.MAX_TEXT_CHARACTERS` characters of a text,
    truncate it to the model's sequence length and pad shorter ones; an empty text has
    no tokens and is still answered.
    """

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name=TEXT_INPUT)])
    def serving_default(text):
        return app.decode_predictions(model(model.vectorize(text), training=False), model)

    return {"serving_default": serving_default}
