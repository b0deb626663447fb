"""Large requests run in chunks of rows, so that their peak memory grows with the chunk,
not with the request.

A request is chunked when every input of its signature has a declared rank of at least
one with an unknown 0th (batch) dimension, all inputs share that dimension, and it is
larger than the chunk: at most `max_rows` rows (the batching `max_batch_size`, or the
server's `--request_chunk_rows`) and about `CHUNK_INPUT_BYTES` of input. Outputs are
concatenated along the rows; a signature whose outputs do not follow the rows (a
reduction over the batch) is run on the whole request instead, as without chunking.
"""

import time

import grpc
import numpy as np

from serving.errors import ServingError

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


def run_in_chunks(run, inputs, size, deadline=None):
    """`run(inputs)` on consecutive slices of `size` rows, outputs concatenated.

    `deadline` (time.monotonic) stops the request between chunks with DEADLINE_EXCEEDED.
    """
    rows = next(iter(inputs.values())).shape[0]
    parts = []
    for start in range(0, rows, size):
        if deadline is not None and time.monotonic() > deadline:
            raise ServingError(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
        part = {name: array[start:start + size] for name, array in inputs.items()}
        outputs = run(part)
        if not _aligned(outputs, len(next(iter(part.values())))):
            return run(inputs)
        parts.append(outputs)
    return {name: np.concatenate([outputs[name] for outputs in parts]) for name in parts[0]}
