"""Request rules (`serving.request_rules`): limits on the whole request, chunks joined as one
call answers, batched requests answered per request, and long runs off the event loop."""

import concurrent.futures
import threading
import time

import numpy as np
import pytest

from serving.batching import BatchingOptions, BatchScheduler
from serving.model_config import ModelEntry
from tests.serving.serving_helpers import RULES_MAX_ROWS, RULES_MAX_TOTAL, Http, export_rules_model, start_server

CHUNK_ROWS = 4
PATH = "/v1/models/rules:predict"


@pytest.fixture(scope="module")
def rules_model(tmp_path_factory):
    base = tmp_path_factory.mktemp("rules")
    module = export_rules_model(base / "rules" / "1")
    return base / "rules", module


@pytest.fixture(scope="module", params=["unbatched", "batched"])
def rules_server(request, rules_model):
    """The rules model served in chunks of `CHUNK_ROWS` rows, without and with batching (a
    batch waits 0.2 s for more requests, so that concurrent ones share it)."""
    batching = (
        BatchingOptions(max_batch_size=CHUNK_ROWS, batch_timeout_micros=200_000, num_batch_threads=2)
        if request.param == "batched"
        else None
    )
    server = start_server([ModelEntry("rules", str(rules_model[0]))], batching=batching, request_chunk_rows=CHUNK_ROWS)
    yield server
    server.stop()


def predict(server, signature, instances):
    client = Http(server.rest_api_port)
    try:
        return client("POST", PATH, {"signature_name": signature, "instances": instances})
    finally:
        client.close()


def test_row_limit_holds_for_the_whole_chunked_request(rules_server):
    status, body = predict(rules_server, "serve_checked", [1.0] * (RULES_MAX_ROWS + 1))
    assert status == 400 and f"over the limit of {RULES_MAX_ROWS}" in body["error"], body
    status, body = predict(rules_server, "serve_checked", [1.0] * RULES_MAX_ROWS)
    assert (status, body) == (200, {"predictions": [2.0] * RULES_MAX_ROWS})


def test_sum_limit_bounds_the_work_of_all_rows(rules_server):
    share = RULES_MAX_TOTAL // 2 + 1  # each row within the limit, their sum over it
    status, body = predict(rules_server, "serve_count", [share] * 2)
    assert status == 400 and f"over the limit of {RULES_MAX_TOTAL}" in body["error"], body
    assert predict(rules_server, "serve_count", [share, -5]) == (200, {"predictions": [share, 0.0]})  # negatives: 0


def test_a_bad_row_past_the_first_chunk_is_named_by_its_own_row(rules_server):
    rows = [1.0] * 10
    rows[7] = float("nan")
    status, body = predict(rules_server, "serve_checked", rows)
    assert status == 400 and "row 7: not finite" in body["error"], body
    assert "float32 [10]" in body["error"], body  # the request, not its chunk


def test_chunks_with_different_widths_answer_as_one_call(rules_server, rules_model):
    texts = ["a", "bb", "c", "", "a much longer text", "xy", "z", "", "pq"]  # chunks of 4 rows
    status, body = predict(rules_server, "serve_chars", texts)
    assert status == 200, body
    expected = rules_model[1].serve_chars(np.array(texts, object))["chars"].numpy()
    assert [row["chars"] for row in body["predictions"]] == [[char.decode() for char in row] for row in expected]


def test_concurrent_clients_get_their_own_answers(rules_server, rules_model):
    """A bad request fails alone, and a short text batched beside a long one is not padded
    to it."""
    requests = [
        ("serve_checked", [1.0, float("nan")]),
        ("serve_checked", [3.0]),
        ("serve_chars", ["a"]),
        ("serve_chars", ["abcdefgh"]),
    ]
    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(lambda request: predict(rules_server, *request), requests))
    assert answers[0][0] == 400 and "row 1: not finite" in answers[0][1]["error"], answers[0]
    assert answers[1] == (200, {"predictions": [6.0]})
    assert answers[2] == (200, {"predictions": [{"chars": ["a"], "length": 1}]})
    assert answers[3][1]["predictions"][0]["length"] == 8


def test_a_failed_batch_answers_each_request_alone(rules_model):
    from serving.servable import SavedModelServable

    servable = SavedModelServable("rules", 1, rules_model[0] / "1")
    scheduler = BatchScheduler(servable.run, BatchingOptions(batch_timeout_micros=1_000_000, num_batch_threads=1))
    try:
        bad = scheduler.submit("serve_checked", {"x": np.array([1.0, 2.0, np.inf], np.float32)})
        good = scheduler.submit("serve_checked", {"x": np.array([4.0], np.float32)})
        np.testing.assert_array_equal(good.result(timeout=30)["y"], [8.0])
        with pytest.raises(Exception, match="row 2: not finite"):
            bad.result(timeout=30)
    finally:
        scheduler.stop()
        servable.close()


def _spin_iterations(servable, seconds):
    """Iterations of `serve_spin` that take about `seconds` here (the machine may be busy)."""
    iterations = 20_000
    started = time.monotonic()
    servable.run("serve_spin", {"n": np.array([iterations], np.int64)})
    return int(iterations * seconds / max(time.monotonic() - started, 1e-3))


def test_status_answers_while_a_long_prediction_runs(rules_model):
    from serving.servable import SavedModelServable

    servable = SavedModelServable("rules", 1, rules_model[0] / "1")
    try:
        iterations = _spin_iterations(servable, 2.0)
    finally:
        servable.close()
    server = start_server([ModelEntry("rules", str(rules_model[0]))])
    try:
        finished = {}

        def long_prediction():
            finished["status"] = predict(server, "serve_spin", [iterations])[0]
            finished["at"] = time.monotonic()

        worker = threading.Thread(target=long_prediction)
        worker.start()
        time.sleep(0.3)
        client = Http(server.rest_api_port)
        started = time.monotonic()
        status, _ = client("GET", "/v1/models/rules")
        answered = time.monotonic()
        client.close()
        worker.join(60)
        assert status == 200 and finished["status"] == 200
        assert answered < finished["at"], "the status waited for the prediction"
        assert answered - started < 0.5
    finally:
        server.stop()


def test_grpc_checks_the_limits_on_the_whole_request(rules_server):
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = "rules"
    request.model_spec.signature_name = "serve_checked"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(np.ones(RULES_MAX_ROWS + 1, np.float32)))
    with grpc.insecure_channel(f"127.0.0.1:{rules_server.grpc_port}") as channel:
        with pytest.raises(grpc.RpcError) as error:
            prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(request, timeout=30)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"over the limit of {RULES_MAX_ROWS}" in error.value.details()


def test_rules_the_server_would_not_understand_are_refused(tmp_path):
    from serving.request_rules import RULES_FILE, ModelRules, write_rules

    with pytest.raises(ValueError, match="unknown rules"):
        write_rules(tmp_path, {"serving_default": {"max_row": {"x": 3}}})
    assert ModelRules.read(tmp_path)["serving_default"].batchable  # no file: no rules
    (tmp_path / "assets.extra").mkdir()
    (tmp_path / "assets.extra" / RULES_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="unreadable request rules"):
        ModelRules.read(tmp_path)
