"""Dynamic batching: the scheduler on its own, and through the server."""

import concurrent.futures
import threading
import time

import numpy as np
import pytest
from google.protobuf import text_format

from serving.batching import BatchingOptions, BatchScheduler
from serving.errors import ServingError
from serving.extra_protos import BatchingParameters
from serving.model_config import ModelEntry
from tests.serving.serving_helpers import Http, reference_scores, start_server


class Recorder:
    def __init__(self, delay=0.02):
        self.sizes = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, signature_name, inputs, output_filter=()):
        time.sleep(self.delay)
        with self.lock:
            self.sizes.append(len(inputs["x"]))
        return {"y": inputs["x"] * 2, "n": np.full(len(inputs["x"]), len(inputs["x"]))}


def test_concurrent_tasks_are_batched_and_split_back():
    run = Recorder()
    scheduler = BatchScheduler(
        run, BatchingOptions(max_batch_size=8, batch_timeout_micros=5000, num_batch_threads=1, max_enqueued_batches=100)
    )
    try:
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            futures = [pool.submit(scheduler, "s", {"x": np.array([i, -i], np.float32)}) for i in range(32)]
            results = [future.result(timeout=30) for future in futures]
        for i, result in enumerate(results):
            np.testing.assert_array_equal(result["y"], [2 * i, -2 * i])
        assert max(run.sizes) == 8 and sum(run.sizes) == 64
    finally:
        scheduler.stop()


def test_padding_to_allowed_sizes_and_limits():
    run = Recorder(delay=0)
    options = BatchingOptions(max_batch_size=4, batch_timeout_micros=0, num_batch_threads=1, allowed_batch_sizes=(2, 4))
    scheduler = BatchScheduler(run, options)
    try:
        result = scheduler("s", {"x": np.array([1.0, 2.0, 3.0])})
        np.testing.assert_array_equal(result["y"], [2, 4, 6])
        assert run.sizes == [4]
        with pytest.raises(ServingError, match="larger than maximum"):
            scheduler.submit("s", {"x": np.zeros(5)})
        with pytest.raises(ServingError, match="at least one dimension"):
            scheduler.submit("s", {"x": np.float32(1)})
    finally:
        scheduler.stop()


def test_full_queue_is_unavailable():
    gate = threading.Event()

    def blocked(signature_name, inputs, output_filter=()):
        gate.wait(10)
        return {"y": inputs["x"]}

    scheduler = BatchScheduler(blocked, BatchingOptions(max_batch_size=1, num_batch_threads=1, max_enqueued_batches=2))
    try:
        first = scheduler.submit("s", {"x": np.zeros(1)})
        time.sleep(0.1)  # the thread is now busy with it
        queued = [scheduler.submit("s", {"x": np.zeros(1)}) for _ in range(2)]
        with pytest.raises(ServingError) as caught:
            scheduler.submit("s", {"x": np.zeros(1)})
        assert caught.value.http_status == 503
        gate.set()
        for future in [first, *queued]:
            future.result(timeout=10)
    finally:
        gate.set()
        scheduler.stop()


def test_batching_parameters_proto():
    params = text_format.Parse(
        "max_batch_size { value: 32 } batch_timeout_micros { value: 2000 } "
        "num_batch_threads { value: 2 } max_enqueued_batches { value: 50 }",
        BatchingParameters(),
    )
    options = BatchingOptions.from_proto(params)
    assert (
        options.max_batch_size,
        options.batch_timeout_micros,
        options.num_batch_threads,
        options.max_enqueued_batches,
    ) == (32, 2000, 2, 50)


def test_server_with_batching_answers_each_client(tiny_keras_base):
    base, model = tiny_keras_base
    srv = start_server(
        [ModelEntry("tiny", str(base / "tiny"))],
        batching=BatchingOptions(max_batch_size=16, batch_timeout_micros=2000, num_batch_threads=1),
        prometheus_path="/monitoring/prometheus/metrics",
    )  # metrics are kept with monitoring on
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(48, 4)).astype(np.float32)

    def ask(index):
        client = Http(srv.rest_api_port)
        try:
            return client("POST", "/v1/models/tiny:predict", {"instances": [rows[index].tolist()]})
        finally:
            client.close()

    try:
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(ask, range(len(rows))))
        expected = reference_scores(model, rows)
        for index, (status, body) in enumerate(answers):
            assert status == 200, body
            np.testing.assert_allclose(body["predictions"][0]["scores"], expected[index], rtol=1e-5)
        sizes = srv.metrics.render()
        assert "processed_batch_size" in sizes
        # A request larger than max_batch_size runs in chunks of at most 16 rows.
        batches = []
        with srv.manager.acquire("tiny") as entry:
            entry.scheduler._on_batch = lambda size, padded: batches.append(size)
        client = Http(srv.rest_api_port)
        status, body = client("POST", "/v1/models/tiny:predict", {"inputs": {"features": rows[:37].tolist()}})
        client.close()
        assert status == 200, body
        np.testing.assert_allclose(body["outputs"]["scores"], expected[:37], rtol=1e-5, atol=1e-6)
        assert sorted(batches) == [5, 16, 16]
    finally:
        srv.stop()
