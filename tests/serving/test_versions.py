"""Version policies, labels, polling, and a rollover during which no request fails."""

import os
import shutil
import threading
import time

import pytest
from tensorflow_serving.apis import get_model_status_pb2

from serving.model_config import ModelEntry
from tests.serving.serving_helpers import HALF_PLUS_THREE, HALF_PLUS_TWO, Http, copy_model, start_server

State = get_model_status_pb2.ModelVersionStatus


def add_version(base, source, version):
    """Adds a version the way `serving.export` does: written aside, renamed into place."""
    staging = base / f".tmp-{version}"
    copy_model(source, staging, version)
    os.rename(staging / str(version), base / str(version))
    staging.rmdir()


@pytest.mark.parametrize(
    "policy, expected", [("latest:1", [3]), ("latest:2", [2, 3]), ("all", [1, 2, 3]), ("specific:1,3", [1, 3])]
)
def test_version_policies(testdata, tmp_path, policy, expected):
    base = tmp_path / "m"
    for version, source in ((1, HALF_PLUS_TWO), (2, HALF_PLUS_THREE), (3, HALF_PLUS_TWO)):
        copy_model(source, base, version)
    (base / "notes").mkdir()  # non-numeric folders are ignored
    srv = start_server([ModelEntry("m", str(base), policy)], enable_warmup=False)
    try:
        status = srv.manager.version_status("m")
        assert sorted(v for v, state, _ in status if state == State.AVAILABLE) == expected
    finally:
        srv.stop()


def test_rollover_without_failed_requests(testdata, tmp_path):
    base = tmp_path / "m"
    copy_model(HALF_PLUS_TWO, base, 1)
    srv = start_server([ModelEntry("m", str(base), "latest:1", {"canary": 2})], poll_wait_seconds=0.2)
    answers, failures, stop = [], [], threading.Event()

    def hammer():
        client = Http(srv.rest_api_port)
        for _ in range(5000):  # bounded
            if stop.is_set():
                break
            status, body = client("POST", "/v1/models/m:predict", {"instances": [1.0]})
            (answers if status == 200 else failures).append(body)
        client.close()

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(0.5)
        add_version(base, HALF_PLUS_THREE, 2)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not answers or answers[-1] != {"predictions": [3.5]}):
            time.sleep(0.1)
        time.sleep(0.3)
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)
    status = {v: state for v, state, _ in srv.manager.version_status("m")}
    try:
        assert not failures, failures[:3]
        assert {"predictions": [2.5]} in answers and answers[-1] == {"predictions": [3.5]}
        assert status == {2: State.AVAILABLE, 1: State.END}
        client = Http(srv.rest_api_port)
        assert client("POST", "/v1/models/m/labels/canary:predict", {"instances": [1.0]}) == (
            200,
            {"predictions": [3.5]},
        )
        # A broken new version does not replace the one serving.
        broken = base / ".tmp-3"
        broken.mkdir()
        (broken / "saved_model.pb").write_bytes(b"not a SavedModel")
        os.rename(broken, base / "3")
        time.sleep(1.5)
        assert client("POST", "/v1/models/m:predict", {"instances": [1.0]}) == (200, {"predictions": [3.5]})
        status, body = client("GET", "/v1/models/m/versions/3")
        assert status == 200
        assert body["model_version_status"][0]["state"] == "END"
        assert body["model_version_status"][0]["status"]["error_code"] != "OK"
        client.close()
    finally:
        srv.stop()


def test_missing_base_path_is_not_fatal(tmp_path, testdata):
    srv = start_server([ModelEntry("later", str(tmp_path / "later"))], poll_wait_seconds=0.2)
    try:
        client = Http(srv.rest_api_port)
        assert client("POST", "/v1/models/later:predict", {"instances": [1.0]})[0] == 404
        copy_model(HALF_PLUS_TWO, tmp_path / "stage", 5)
        (tmp_path / "later").mkdir()
        os.rename(tmp_path / "stage" / "5", tmp_path / "later" / "5")
        assert srv.manager.wait_until_available("later", timeout=30)
        assert client("POST", "/v1/models/later:predict", {"instances": [1.0]}) == (200, {"predictions": [2.5]})
        client.close()
    finally:
        srv.stop()
        shutil.rmtree(tmp_path, ignore_errors=True)


def test_version_folders_that_are_not_int64_are_ignored(testdata, tmp_path):
    base = tmp_path / "m"
    copy_model(HALF_PLUS_TWO, base, 1)
    for name in (str(2**63), "99999999999999999999", "\u0661\u0662", "+3"):
        shutil.copytree(base / "1", base / name)
    srv = start_server([ModelEntry("m", str(base))], enable_warmup=False)
    try:
        assert [(v, state) for v, state, _ in srv.manager.version_status("m")] == [(1, State.AVAILABLE)]
        client = Http(srv.rest_api_port)
        status, body = client("GET", "/v1/models/m")
        assert status == 200 and [v["version"] for v in body["model_version_status"]] == ["1"], body
        client.close()
    finally:
        srv.stop()


def test_largest_int64_version_folder_is_served(testdata, tmp_path):
    base = tmp_path / "m"
    copy_model(HALF_PLUS_TWO, base, 2**63 - 1)
    srv = start_server([ModelEntry("m", str(base))], enable_warmup=False)
    try:
        assert [v for v, _, _ in srv.manager.version_status("m")] == [2**63 - 1]
    finally:
        srv.stop()


def wait_for_load_error(manager, name, version, timeout=30):
    """The version's entry once a load of it has failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with manager._lock:
            entry = manager._models[name].versions.get(version)
        if entry is not None and entry.error is not None:
            return entry
        time.sleep(0.02)
    raise AssertionError(f"{name} version {version} did not fail to load")


def test_version_copied_in_two_steps_loads_on_a_retry(testdata, tmp_path):
    base = tmp_path / "m"
    copy_model(HALF_PLUS_TWO, base, 1)
    srv = start_server(
        [ModelEntry("m", str(base))],
        poll_wait_seconds=0.1,
        enable_warmup=False,
        max_num_load_retries=5,
        load_retry_interval_micros=300_000,
    )
    try:
        (base / "2").mkdir()
        shutil.copy(next(HALF_PLUS_THREE.glob("*/saved_model.pb")), base / "2")
        assert wait_for_load_error(srv.manager, "m", 2).state == State.END  # failed, without variables
        client = Http(srv.rest_api_port)
        assert client("POST", "/v1/models/m:predict", {"instances": [1.0]}) == (200, {"predictions": [2.5]})
        shutil.copytree(next(HALF_PLUS_THREE.glob("*/variables")), base / "2" / "variables")
        assert srv.manager.wait_until_available("m", 2, timeout=30)
        assert client("POST", "/v1/models/m:predict", {"instances": [1.0]}) == (200, {"predictions": [3.5]})
        client.close()
    finally:
        srv.stop()


@pytest.mark.parametrize("poll_wait_seconds", [0, 0.05])
def test_failed_loads_are_retried_a_bounded_number_of_times(tmp_path, poll_wait_seconds):
    from serving.model_config import build_config
    from serving.model_manager import ModelManager

    for version in (1, 2):
        (tmp_path / str(version)).mkdir()
        (tmp_path / str(version) / "saved_model.pb").write_bytes(b"")
    tries = []

    class Servable:
        def __init__(self, name, version, path):
            tries.append(version)
            if version == 2:
                raise OSError("variables/ not there yet")

        def close(self):
            pass

    manager = ModelManager(
        build_config([ModelEntry("m", str(tmp_path), "latest:2")]),
        poll_wait_seconds,
        enable_warmup=False,
        servable_factory=Servable,
        max_num_load_retries=3,
        load_retry_interval_seconds=0.05,
    ).start()
    try:
        deadline = time.monotonic() + 10
        while tries.count(2) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        assert tries.count(2) == 4 and tries.count(1) == 1  # one load and three retries
        with manager.acquire("m") as entry:
            assert entry.version == 1
    finally:
        manager.stop()
