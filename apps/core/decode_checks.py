"""Checks of streamed examples that only decoding can make (a mask of another size than its
image, an unknown class id, a file that is no image), and their errors as one-line
`DataSourceError`s.

Inside `tf.data` a failed check is a `tf.errors.InvalidArgumentError` raised wherever the
pipeline is read (`fit`, evaluation); `data_errors_as_source_errors` turns those of
`check` back into the `DataSourceError` the CLI prints as one line, naming the file.
"""

import contextlib

import tensorflow as tf

from apps.core.data import DataSourceError

MARK = "Bad data:"


def check(condition, *parts):
    """An assertion op: unless `condition`, an error whose message is `parts` (strings, string
    or number tensors) joined, after `MARK`. Run it with `tf.control_dependencies`."""

    def text(part):
        if not tf.is_tensor(part):
            return str(part)
        return part if part.dtype == tf.string else tf.strings.as_string(part)

    return tf.debugging.Assert(condition, [MARK, tf.strings.join([text(part) for part in parts])])


@contextlib.contextmanager
def data_errors_as_source_errors():
    """Re-raises a failed `check` met while reading a pipeline as `DataSourceError(message)`."""
    try:
        yield
    except tf.errors.InvalidArgumentError as error:
        from serving.errors import clean_tf_message

        message = clean_tf_message(error.message)
        if MARK not in message:
            raise
        raise DataSourceError(message[message.index(MARK) :]) from None
