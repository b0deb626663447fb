"""Which model versions are served: version policies, labels, polling, warm-up, rollover.

TF Serving's semantics: each model's base path holds numbered version folders;
the version policy (`latest{num_versions}`, `all`, `specific{versions}`) picks
the aspired ones; every `file_system_poll_wait_seconds` new aspired versions are
loaded and warmed up *before* versions that are no longer aspired are unloaded,
and an old version stays until no request is using it. A failed load leaves
the versions already serving in place and is tried again up to `max_num_load_retries`
times, `load_retry_interval_micros` apart (a version copied in two steps, `saved_model.pb`
before `variables/`, fails its first load); between tries its status is END with the error.
"""

import contextlib
import logging
import re
import threading
import time
from pathlib import Path

from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.config import model_server_config_pb2

from serving.chunking import DEFAULT_CHUNK_ROWS, chunk_rows, run_in_chunks
from serving.errors import ServingError, invalid_argument, not_found
from serving.metrics import UNKNOWN_MODEL

log = logging.getLogger("kapps.serving")

State = get_model_status_pb2.ModelVersionStatus.State
MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
VERSION_FOLDER = re.compile(r"[0-9]+")
INT64_MAX = 2**63 - 1
DEFAULT_LOAD_RETRIES = 5  # TF Serving's --max_num_load_retries
DEFAULT_LOAD_RETRY_INTERVAL_SECONDS = 60.0  # TF Serving's --load_retry_interval_micros


def check_model_name(name):
    """Model names are plain folder names: nothing that could leave the base path."""
    if not isinstance(name, str) or not MODEL_NAME_PATTERN.match(name) or ".." in name:
        raise invalid_argument(f"Invalid model name: {str(name)[:80]!r}")
    return name


def version_number(folder_name):
    """The version a folder name stands for, or None: as TF Serving, only ASCII digits
    that fit an int64 (other folders are ignored, not served as the newest version)."""
    if not VERSION_FOLDER.fullmatch(folder_name):
        return None
    number = int(folder_name)
    return number if number <= INT64_MAX else None


def scan_versions(base_path):
    """`{version: folder}` of the complete numbered version folders under `base_path`."""
    base = Path(base_path)
    if not base.is_dir():
        return {}
    versions = {}
    for child in base.iterdir():
        number = version_number(child.name)
        if (
            number is not None
            and child.is_dir()
            and ((child / "saved_model.pb").exists() or (child / "saved_model.pbtxt").exists())
        ):
            versions[number] = child
    return versions


def aspired_versions(policy, available):
    """The versions `policy` (a `FileSystemStoragePathSourceConfig.ServableVersionPolicy`) picks."""
    available = sorted(available)
    which = policy.WhichOneof("policy_choice")
    if which == "all":
        return set(available)
    if which == "specific":
        return set(policy.specific.versions) & set(available)
    count = policy.latest.num_versions if which == "latest" and policy.latest.num_versions else 1
    return set(available[-count:])


class VersionEntry:
    """One version of one model and its lifecycle state."""

    def __init__(self, model_name, version, path, max_chunk_rows=DEFAULT_CHUNK_ROWS):
        self.model_name = model_name
        self.version = version
        self.path = path
        self.state = State.START
        self.error = None
        self.servable = None
        self.scheduler = None
        self.max_chunk_rows = max_chunk_rows
        self._in_flight = 0
        self._idle = threading.Condition()

    def run(self, signature, inputs, output_filter=(), timeout_ms=None, check=None):
        """Runs a signature (through the batch scheduler when batching is on), a large
        request in chunks (`serving.chunking`), once the whole request is within the
        model's limits (`serving.request_rules`). `signature` is the request's `(name,
        SignatureDef)`, looked up once (`serving.inference.find_signature`). `check()`, called
        before the run and before each chunk, raises to abandon the work (its client is gone)."""
        rules = self._checked(signature, inputs)
        return self._run_checked(signature, rules, inputs, output_filter, timeout_ms, check)

    def submit(self, executor, signature, inputs, output_filter=(), timeout_ms=None):
        """A concurrent Future of `run`'s outputs, its inputs checked now: a request that fits one
        batch goes straight to the batch scheduler, anything else runs on `executor`."""
        rules = self._checked(signature, inputs)
        if self.scheduler is not None and rules.batchable and self._chunk_rows(signature, rules, inputs) is None:
            return self.scheduler.submit(signature[0], inputs, output_filter)
        return executor.submit(self._run_checked, signature, rules, inputs, output_filter, timeout_ms)

    def _checked(self, signature, inputs):
        """The signature's request rules, once the inputs are what it takes and within them."""
        signature_name, definition = signature
        self.servable.check_inputs(signature_name, definition, inputs)
        rules = self.servable.rules[signature_name]
        rules.check(inputs)
        return rules

    def _run_checked(self, signature, rules, inputs, output_filter, timeout_ms, check=None):
        def run_once(part):
            if check is not None:
                check()
            return self._run_once(signature, rules, part, output_filter, timeout_ms)

        rows = self._chunk_rows(signature, rules, inputs)
        if rows is None:
            return run_once(inputs)
        deadline = time.monotonic() + timeout_ms / 1000 if timeout_ms else None
        return run_in_chunks(run_once, inputs, rows, deadline, rules.padded_outputs)

    def _chunk_rows(self, signature, rules, inputs):
        if rules.whole_requests:
            return None
        limit = self.scheduler.options.max_batch_size if self.scheduler is not None else None
        return chunk_rows(
            self.servable.input_specs(*signature), inputs, min(filter(None, (limit, self.max_chunk_rows)), default=None)
        )

    def _run_once(self, signature, rules, inputs, output_filter, timeout_ms):
        if self.scheduler is not None and rules.batchable:
            return self.scheduler(signature[0], inputs, output_filter)
        return self.servable.run_checked(*signature, inputs, output_filter, timeout_ms)

    def enter(self):
        with self._idle:
            self._in_flight += 1

    def leave(self):
        with self._idle:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.notify_all()

    def wait_idle(self, timeout):
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)


class ManagedModel:
    def __init__(self, config):
        self.config = config
        self.versions = {}  # version -> VersionEntry (including unloaded ones, state END)
        self.failures = {}  # version -> (failed loads in a row, time.monotonic() of the last)

    @property
    def name(self):
        return self.config.name

    def available(self):
        return sorted(v for v, e in self.versions.items() if e.state == State.AVAILABLE)


def model_config_list(config):
    """The `ModelConfig`s of a `ModelServerConfig` (only `model_config_list` is supported)."""
    which = config.WhichOneof("config")
    if which not in (None, "model_config_list"):
        raise invalid_argument("Only model_config_list is supported (not custom_model_config)")
    names = set()
    for model in config.model_config_list.config:
        check_model_name(model.name)
        if model.name in names:
            raise invalid_argument(f"Illegal to list model {model.name} multiple times in config list")
        if not model.base_path:
            raise invalid_argument(f"Model {model.name} has no base_path")
        if model.model_platform not in ("", "tensorflow"):
            raise invalid_argument(f"Model {model.name}: unsupported platform {model.model_platform}")
        names.add(model.name)
    return list(config.model_config_list.config)


class ModelManager:
    """Loads, serves and unloads the versions of the configured models."""

    def __init__(
        self,
        config,
        poll_wait_seconds=1.0,
        enable_warmup=True,
        batching=None,
        metrics=None,
        servable_factory=None,
        unload_grace_seconds=30.0,
        max_chunk_rows=DEFAULT_CHUNK_ROWS,
        max_num_load_retries=DEFAULT_LOAD_RETRIES,
        load_retry_interval_seconds=DEFAULT_LOAD_RETRY_INTERVAL_SECONDS,
    ):
        from serving.servable import SavedModelServable

        self._servable_factory = servable_factory or SavedModelServable
        self.poll_wait_seconds = poll_wait_seconds
        self.enable_warmup = enable_warmup
        self.batching = batching
        self.metrics = metrics
        self.unload_grace_seconds = unload_grace_seconds
        self.max_chunk_rows = max_chunk_rows
        self.max_num_load_retries = max_num_load_retries
        self.load_retry_interval_seconds = load_retry_interval_seconds
        self._models = {}
        self._lock = threading.RLock()
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        self._config = model_server_config_pb2.ModelServerConfig()
        self._apply_config(config)

    # ----- configuration ------------------------------------------------------
    def _apply_config(self, config):
        configs = model_config_list(config)
        removed = []
        with self._lock:
            wanted = {model.name: model for model in configs}
            for name in list(self._models):
                if name not in wanted:
                    removed.append(self._models.pop(name))
            for name, model_config in wanted.items():
                if name in self._models:
                    self._models[name].config = model_config
                else:
                    self._models[name] = ManagedModel(model_config)
            self._config = config
        for model in removed:
            for entry in list(model.versions.values()):
                self._unload(entry)

    def reload_config(self, config):
        """Applies a new `ModelServerConfig` (HandleReloadConfigRequest) and loads what it asks for."""
        self._apply_config(config)
        self.poll()

    @property
    def config(self):
        return self._config

    # ----- lifecycle ----------------------------------------------------------
    def start(self):
        """Loads the initial versions (synchronously), then polls and retries failed loads
        in the background."""
        self.poll()
        if self.poll_wait_seconds > 0 or self.max_num_load_retries > 0:
            self._thread = threading.Thread(target=self._poll_loop, name="model-poller", daemon=True)
            self._thread.start()
        return self

    def _poll_loop(self):
        scanning = self.poll_wait_seconds > 0
        ticks = [self.poll_wait_seconds] if scanning else []
        if self.max_num_load_retries > 0:
            ticks.append(self.load_retry_interval_seconds)
        tick = max(min(ticks), 0.05)  # a zero interval must not spin
        next_scan = time.monotonic() + self.poll_wait_seconds
        while not self._stop.wait(tick):
            try:
                if scanning and time.monotonic() >= next_scan:
                    next_scan = time.monotonic() + self.poll_wait_seconds
                    self.poll()
                else:
                    self.retry_failed_loads()
            except Exception:  # noqa: BLE001 - keep polling whatever one pass did
                log.exception("Polling the model base paths failed")

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            models, self._models = list(self._models.values()), {}
        for model in models:
            for entry in list(model.versions.values()):
                self._unload(entry, grace=5)

    def poll(self):
        with self._poll_lock:
            with self._lock:
                models = list(self._models.values())
            for model in models:
                self._poll_model(model)

    def retry_failed_loads(self):
        """Loads again the failed versions whose retry is due (without scanning the base paths)."""
        with self._poll_lock:
            with self._lock:
                models = list(self._models.values())
            for model in models:
                for version in sorted(model.failures, reverse=True):
                    entry = model.versions.get(version)
                    if entry is not None and entry.state == State.END and self._load_due(model, version):
                        self._load(model, version, entry.path)

    def _load_due(self, model, version):
        """Whether `version` may be loaded now: never failed, or a retry is left and due."""
        failures = model.failures.get(version)
        if failures is None:
            return True
        count, last = failures
        return count <= self.max_num_load_retries and (time.monotonic() - last >= self.load_retry_interval_seconds)

    def _poll_model(self, model):
        found = scan_versions(model.config.base_path)
        aspired = aspired_versions(model.config.model_version_policy, found)
        for version in sorted(aspired, reverse=True):
            entry = model.versions.get(version)
            busy = entry is not None and entry.state in (State.LOADING, State.AVAILABLE)
            if busy or not self._load_due(model, version):
                continue
            self._load(model, version, found[version])
        with self._lock:
            if model.name not in self._models:
                return
            serving_aspired = [v for v in model.available() if v in aspired]
            to_unload = [e for v, e in model.versions.items() if e.state == State.AVAILABLE and v not in aspired]
        if to_unload and not serving_aspired:
            log.warning(
                "Model %s: keeping versions %s until an aspired version loads",
                model.name,
                [e.version for e in to_unload],
            )
            return
        for entry in to_unload:
            self._unload(entry)

    def _load(self, model, version, path):
        entry = VersionEntry(model.name, version, path, self.max_chunk_rows)
        entry.state = State.LOADING
        with self._lock:
            model.versions[version] = entry
        started = time.monotonic()
        try:
            log.info("Loading servable: {name: %s version: %d} from %s", model.name, version, path)
            entry.servable = self._servable_factory(model.name, version, path)
            if self.batching is not None:
                from serving.batching import BatchScheduler

                on_batch = self.metrics.record_batch if self.metrics else None
                entry.scheduler = BatchScheduler(entry.servable.run, self.batching, on_batch)
            if self.enable_warmup:
                from serving.warmup import run_warmup

                count = run_warmup(entry, path)
                if count:
                    log.info(
                        "Finished reading warmup data for model %s version %d: %d requests", model.name, version, count
                    )
        except Exception as error:  # noqa: BLE001 - a bad version must not stop the server
            self._record_failure(model, version, error)
            entry.error = (
                error
                if isinstance(error, ServingError)
                else ServingError(_unknown(), f"Failed to load {model.name} version {version}: {error}")
            )
            entry.state = State.END
            self._close(entry)
            if self.metrics:
                self.metrics.record_load(str(path), "error")
            return
        entry.state = State.AVAILABLE
        model.failures.pop(version, None)
        if self.metrics:
            self.metrics.record_load(str(path), "success", time.monotonic() - started)
        log.info("Successfully loaded servable version {name: %s version: %d}", model.name, version)

    def _record_failure(self, model, version, error):
        count = model.failures.get(version, (0, 0.0))[0] + 1
        model.failures[version] = (count, time.monotonic())
        if count <= self.max_num_load_retries:
            log.error(
                "Loading %s version %d failed: %s; retry %d of %d in %g s",
                model.name,
                version,
                error,
                count,
                self.max_num_load_retries,
                self.load_retry_interval_seconds,
            )
        else:
            log.error("Loading %s version %d failed: %s; giving up after %d tries", model.name, version, error, count)

    def _unload(self, entry, grace=None):
        if entry.state != State.AVAILABLE:
            return
        entry.state = State.UNLOADING  # new requests no longer resolve to it
        log.info("Unloading servable version {name: %s version: %d}", entry.model_name, entry.version)
        entry.wait_idle(self.unload_grace_seconds if grace is None else grace)
        self._close(entry)
        entry.state = State.END

    @staticmethod
    def _close(entry):
        if entry.scheduler is not None:
            entry.scheduler.stop()
        if entry.servable is not None:
            entry.servable.close()
            entry.servable = None

    # ----- lookups --------------------------------------------------------------
    def model_names(self):
        with self._lock:
            return sorted(self._models)

    def metrics_label(self, name):
        """The model_name label for a request naming `name`: the name of a configured model,
        one fixed label for any other."""
        return name if name in self._models else UNKNOWN_MODEL

    def _model(self, name, description):
        check_model_name(name)
        model = self._models.get(name)
        if model is None:
            raise not_found(f"Servable not found for request: {description}")
        return model

    def _resolve(self, name, version=None, label=None):
        if label:
            description = f"Labeled({name}, {label})"
            model = self._model(name, description)
            labels = model.config.version_labels
            if label not in labels:
                raise invalid_argument(f"Unrecognized servable version label: {label}")
            version = labels[label]
        description = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
        model = self._model(name, description)
        if version is None:
            available = model.available()
            if not available:
                raise not_found(f"Servable not found for request: {description}")
            return model.versions[available[-1]]
        entry = model.versions.get(int(version))
        if entry is None or entry.state != State.AVAILABLE:
            raise not_found(f"Servable not found for request: {description}")
        return entry

    @contextlib.contextmanager
    def acquire(self, name, version=None, label=None):
        """The serving `VersionEntry` for a request; it is not unloaded while held."""
        with self._lock:
            entry = self._resolve(name, version, label)
            entry.enter()
        try:
            yield entry
        finally:
            entry.leave()

    def version_status(self, name, version=None, label=None):
        """`[(version, state, error or None)]` as GetModelStatus reports them."""
        check_model_name(name)
        with self._lock:
            model = self._models.get(name)
            if model is None or not model.versions:
                raise not_found(f"Could not find any versions of model {name}")
            if label:
                if label not in model.config.version_labels:
                    raise invalid_argument(f"Unrecognized servable version label: {label}")
                version = model.config.version_labels[label]
            if version is not None:
                entry = model.versions.get(int(version))
                if entry is None:
                    raise not_found(f"Could not find version {version} of model {name}")
                entries = [entry]
            else:
                entries = [model.versions[v] for v in sorted(model.versions, reverse=True)]
            return [(e.version, e.state, e.error) for e in entries]

    def wait_until_available(self, name, version=None, timeout=60.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with self.acquire(name, version):
                    return True
            except ServingError:
                time.sleep(0.05)
        return False


def _unknown():
    import grpc

    return grpc.StatusCode.UNKNOWN
