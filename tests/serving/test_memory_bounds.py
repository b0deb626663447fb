"""Bounded cost per request: large requests run in chunks, memory goes back after a spike."""

import os

import numpy as np
import pytest

from serving import chunking, memory
from serving.errors import ServingError
from tests.serving.serving_helpers import Http, reference_scores


@pytest.mark.parametrize(
    "shapes, rows, expected",
    [
        ([(None, 4)], [1000], 256),
        ([(None, 4)], [256], None),  # fits one chunk
        ([None], [1000], None),  # unknown rank (a TF1 model): run whole
        ([(2, 4)], [1000], None),  # a fixed 0th dimension is not a batch
        ([(None,), (None,)], [1000, 999], None),  # inputs disagree on the rows
        ([(None, 1 << 20)], [100], 4),  # 4 MB a row: 16 MB of input a chunk
    ],
)
def test_chunk_rows(shapes, rows, expected):
    specs = {f"x{index}": (np.dtype("float32"), shape) for index, shape in enumerate(shapes)}
    inputs = {
        f"x{index}": np.zeros((count, *(shape or (0, 1))[1:]), np.float32)
        for index, (shape, count) in enumerate(zip(shapes, rows))
    }
    assert chunking.chunk_rows(specs, inputs, 256) == expected


def test_chunks_are_concatenated_and_unaligned_outputs_run_whole():
    seen = []

    def rowwise(inputs):
        seen.append(len(inputs["x"]))
        return {"y": inputs["x"] * 2}

    x = np.arange(10.0)
    np.testing.assert_array_equal(chunking.run_in_chunks(rowwise, {"x": x}, 4)["y"], x * 2)
    assert seen == [4, 4, 2]
    seen.clear()

    def reduction(inputs):
        seen.append(len(inputs["x"]))
        return {"total": np.sum(inputs["x"], keepdims=True)}

    assert chunking.run_in_chunks(reduction, {"x": x}, 4)["total"] == [45.0]
    assert seen == [4, 10]
    with pytest.raises(ServingError, match="Deadline"):
        chunking.run_in_chunks(rowwise, {"x": x}, 4, deadline=0.0)


def test_large_rest_request_runs_in_chunks(tiny_keras_running, monkeypatch):
    server, model = tiny_keras_running
    with server.manager.acquire("tiny") as entry:
        run, sizes = entry.servable.run_checked, []
        monkeypatch.setattr(
            entry.servable,
            "run_checked",
            lambda name, signature, inputs, *rest: (
                sizes.append(len(inputs["features"])) or run(name, signature, inputs, *rest)
            ),
        )
    rows = np.random.default_rng(3).normal(size=(600, 4)).astype(np.float32)
    client = Http(server.rest_api_port)
    status, body = client("POST", "/v1/models/tiny:predict", {"inputs": {"features": rows.tolist()}})
    client.close()
    assert status == 200 and sizes == [256, 256, 88]
    np.testing.assert_allclose(body["outputs"]["scores"], reference_scores(model, rows), rtol=1e-5, atol=1e-6)


class FakeProcess:
    def __init__(self, monkeypatch, resident):
        self.resident, self.trims, self.freed = resident, 0, 0
        monkeypatch.setattr(memory, "resident_bytes", lambda: self.resident)

    def trim(self, pad):
        self.trims += 1
        self.resident -= self.freed


def test_releaser_trims_after_a_spike_and_backs_off_when_nothing_comes_back(monkeypatch):
    process = FakeProcess(monkeypatch, 1000 << 20)
    releaser = memory.MemoryReleaser(growth_bytes=64 << 20, interval=1.0)
    releaser._trim = process.trim
    assert not releaser.check(now=0)
    process.resident += 500 << 20  # a spike, still in use
    assert releaser.check(now=1) and process.trims == 1
    assert not releaser.check(now=2)  # nothing came back: wait 2 s
    process.freed = 480 << 20  # the request ended
    assert releaser.check(now=3) and process.resident == 1020 << 20
    assert not releaser.check(now=4)  # settled: within growth_bytes of the floor
    process.freed = 0
    process.resident += 200 << 20  # a model loaded: stays
    times = [now for now in range(5, 80) if releaser.check(now=now)]
    assert times == [5, 7, 11, 19, 35, 67]  # the pause doubles, up to MAX_PAUSE_SECONDS


def test_kapps_serve_uses_the_system_allocator(monkeypatch):
    monkeypatch.delenv(memory.SYSTEM_ALLOCATOR_VARIABLE, raising=False)
    memory.use_system_allocator()
    assert os.environ[memory.SYSTEM_ALLOCATOR_VARIABLE] == "1"
    assert memory.resident_bytes() > 0 and memory._malloc_trim() is not None
