"""Large requests run in chunks of rows, so that their peak memory grows with the chunk,
not with the request.

A request is chunked when every input of its signature has a declared rank of at least
one with an unknown 0th (batch) dimension, all inputs share that dimension, and it is
larger than the chunk: at most `max_rows` rows (the batching `max_batch_size`, or the
server's `--request_chunk_rows`) and about `CHUNK_INPUT_BYTES` of input. Outputs are
concatenated along the rows, and the request answers as one call would: an output the
signature pads to the request's largest row (`padded_outputs` of `serving.request_rules`)
is padded across chunks with the signature's own value, and a chunk's error names rows
(`row 12`, `image_bytes[12]`) and inputs as the request's. A signature whose outputs do
not follow the rows (a reduction over the batch), or differ in shape between chunks
without a declared padding, is run on the whole request instead.
"""

import re
import time

import grpc
import numpy as np

from serving.errors import ServingError
from serving.servable import array_text

DEFAULT_CHUNK_ROWS = 256
CHUNK_INPUT_BYTES = 16 << 20


def _input_bytes(array):
    if array.dtype.kind == "O":
        return sum(len(item) for item in array.ravel() if isinstance(item, (bytes, str)))
    return array.nbytes


def chunk_rows(specs, inputs, max_rows):
    """Rows per chunk for this request, or None when it runs whole. `specs` are the
    signature's `{alias: (dtype, shape)}` (`SavedModelServable.input_specs`)."""
    if not max_rows or not inputs:
        return None
    for name, array in inputs.items():
        shape = specs[name][1]
        if not shape or shape[0] is not None or np.ndim(array) == 0:
            return None
    rows = {np.shape(array)[0] for array in inputs.values()}
    if len(rows) != 1:
        return None
    rows = rows.pop()
    if rows <= 1:
        return None
    per_row = max(1, sum(_input_bytes(np.asarray(array)) for array in inputs.values()) // rows)
    size = max(1, min(max_rows, CHUNK_INPUT_BYTES // per_row))
    return size if size < rows else None


def _aligned(outputs, rows):
    return all(np.ndim(value) and np.shape(value)[0] == rows for value in outputs.values())


def in_request_terms(error, first_row, part, inputs):
    """A chunk's `error` as the whole request would read it: the row positions it names (`row 3`,
    `<input>[3]`) counted from the chunk's `first_row`, and the chunk's inputs described as the
    request's."""
    names = "|".join(re.escape(name) for name in sorted(inputs, key=len, reverse=True))
    pattern = re.compile(rf"\b(row |(?:{names})\[)(\d+)")
    message = pattern.sub(lambda match: f"{match[1]}{int(match[2]) + first_row}", error.message)
    for name, array in part.items():
        described = array_text(np.asarray(array))
        if described in message:
            message = message.replace(described, array_text(np.asarray(inputs[name])))
    return ServingError(error.code, message)


def _padded(value, shape, pad):
    if value.dtype.kind == "O" and isinstance(pad, str):
        pad = pad.encode("utf-8")  # string tensors come back as bytes
    widths = [(0, 0)] + [(0, int(want) - got) for want, got in zip(shape[1:], value.shape[1:])]
    return np.pad(value, widths, constant_values=np.asarray(pad, value.dtype))


def _joined(parts, pad_values):
    """The chunks' outputs concatenated along the rows, or None where an output's other
    dimensions differ between chunks and the signature declares no padding for it."""
    joined = {}
    for name in parts[0]:
        values = [outputs[name] for outputs in parts]
        largest = np.max([np.shape(value) for value in values], axis=0)
        if any(np.shape(value)[1:] != tuple(largest[1:]) for value in values):
            if name not in pad_values:
                return None
            values = [_padded(value, largest, pad_values[name]) for value in values]
        joined[name] = np.concatenate(values)
    return joined


def run_in_chunks(run, inputs, size, deadline=None, pad_values=None):
    """`run(inputs)` on consecutive slices of `size` rows, outputs joined.

    `deadline` (time.monotonic) stops the request between chunks with DEADLINE_EXCEEDED;
    `pad_values` (`{output: value}`) pads outputs whose rows the signature pads.
    """
    rows = next(iter(inputs.values())).shape[0]
    parts = []
    for start in range(0, rows, size):
        if deadline is not None and time.monotonic() > deadline:
            raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        part = {name: array[start : start + size] for name, array in inputs.items()}
        try:
            outputs = run(part)
        except ServingError as error:
            if error.http_status < 500:
                raise in_request_terms(error, start, part, inputs) from None
            raise
        if not _aligned(outputs, len(next(iter(part.values())))):
            return run(inputs)
        parts.append(outputs)
    joined = _joined(parts, pad_values or {})
    return run(inputs) if joined is None else joined
