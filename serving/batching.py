"""Dynamic batching of concurrent requests, with TF Serving's batching parameters.

Like TF Serving's basic batch scheduler: tasks join the open batch of their
queue (one queue per signature and input layout); a batch closes when full or
when its oldest task has waited `batch_timeout_micros` and a batch thread is
free. `num_batch_threads` threads run closed batches; more than
`max_enqueued_batches` waiting batches per queue rejects new tasks
(UNAVAILABLE), and a task larger than `max_batch_size` is refused
(INVALID_ARGUMENT), as TF Serving does. Unlike TF Serving, a batch that fails is run
again one request at a time, so that one client's bad input fails only its own request.
"""

import collections
import concurrent.futures
import dataclasses
import os
import threading
import time

import numpy as np

from serving.errors import invalid_argument, unavailable


@dataclasses.dataclass
class BatchingOptions:
    max_batch_size: int = 1000
    batch_timeout_micros: int = 0
    num_batch_threads: int = dataclasses.field(default_factory=lambda: os.cpu_count() or 1)
    max_enqueued_batches: int = 10
    allowed_batch_sizes: tuple = ()
    pad_variable_length_inputs: bool = False

    @classmethod
    def from_proto(cls, params):
        """From a `BatchingParameters` message (see `serving.extra_protos`)."""
        options = cls()
        for field in ("max_batch_size", "batch_timeout_micros", "num_batch_threads", "max_enqueued_batches"):
            if params.HasField(field):
                setattr(options, field, int(getattr(params, field).value))
        options.allowed_batch_sizes = tuple(params.allowed_batch_sizes)
        options.pad_variable_length_inputs = params.pad_variable_length_inputs
        options.validate()
        return options

    def validate(self):
        if self.max_batch_size < 1 or self.num_batch_threads < 1 or self.max_enqueued_batches < 1:
            raise ValueError("max_batch_size, num_batch_threads and max_enqueued_batches must be >= 1")
        if self.batch_timeout_micros < 0:
            raise ValueError("batch_timeout_micros must be >= 0")
        sizes = list(self.allowed_batch_sizes)
        if sizes and (sizes != sorted(sizes) or sizes[-1] != self.max_batch_size):
            raise ValueError("allowed_batch_sizes must increase and end with max_batch_size")


def read_batching_parameters(path):
    from google.protobuf import text_format

    from serving.extra_protos import BatchingParameters

    with open(path) as handle:
        return BatchingOptions.from_proto(text_format.Parse(handle.read(), BatchingParameters()))


class _Task:
    __slots__ = ("inputs", "size", "future", "enqueued")

    def __init__(self, inputs, size):
        self.inputs = inputs
        self.size = size
        self.future = concurrent.futures.Future()
        self.enqueued = time.monotonic()


class _Batch:
    __slots__ = ("key", "tasks", "size", "deadline")

    def __init__(self, key, timeout):
        self.key = key
        self.tasks = []
        self.size = 0
        self.deadline = time.monotonic() + timeout


class BatchScheduler:
    """Batches `run(signature, inputs, output_filter)` calls of one servable."""

    def __init__(self, run, options, on_batch=None):
        self._run = run
        self.options = options
        self._on_batch = on_batch
        self._timeout = options.batch_timeout_micros / 1e6
        self._cond = threading.Condition()
        self._open = {}  # key -> _Batch being filled
        self._ready = collections.deque()  # closed batches, FIFO
        self._waiting = collections.Counter()  # key -> closed + open batches
        self._stopped = False
        self._threads = [
            threading.Thread(target=self._worker, name=f"batch-{i}", daemon=True)
            for i in range(options.num_batch_threads)
        ]
        for thread in self._threads:
            thread.start()

    # ----- submitting ---------------------------------------------------------
    def submit(self, signature_name, inputs, output_filter=()):
        """A `concurrent.futures.Future` of the outputs for this task's rows."""
        sizes = set()
        for name, array in inputs.items():
            if np.ndim(array) == 0:
                raise invalid_argument(
                    f"Batching session Run() input tensors must have at least one dimension; '{name}' is a scalar"
                )
            sizes.add(np.shape(array)[0])
        if len(sizes) != 1:
            raise invalid_argument("Batching session Run() input tensors must have equal 0th-dimension size")
        size = sizes.pop()
        if size > self.options.max_batch_size:
            raise invalid_argument(
                f"Task size {size} is larger than maximum input batch size {self.options.max_batch_size}"
            )
        key = (
            signature_name,
            tuple(sorted(output_filter or ())),
            tuple((name, np.asarray(a).dtype.str, np.shape(a)[1:]) for name, a in sorted(inputs.items())),
        )
        task = _Task(inputs, size)
        with self._cond:
            if self._stopped:
                raise unavailable("The batch scheduler is shut down")
            batch = self._open.get(key)
            if batch is not None and batch.size + size > self.options.max_batch_size:
                self._close(batch)
                batch = None
            if batch is None:
                if self._waiting[key] >= self.options.max_enqueued_batches:
                    raise unavailable("The batch scheduling queue to which this task was submitted is full")
                batch = self._open[key] = _Batch(key, self._timeout)
                self._waiting[key] += 1
            batch.tasks.append(task)
            batch.size += size
            # Batch threads only need waking when there is something new to wait for (a
            # batch opened: a new deadline) or to run (a batch closed); waking one for every
            # task costs each request a thread switch under the GIL.
            opened = len(batch.tasks) == 1
            if batch.size >= self.options.max_batch_size:
                self._close(batch)
                self._cond.notify()
            elif opened:
                self._cond.notify()
        return task.future

    def __call__(self, signature_name, inputs, output_filter=()):
        return self.submit(signature_name, inputs, output_filter).result()

    def _close(self, batch):
        del self._open[batch.key]
        self._ready.append(batch)

    # ----- processing ---------------------------------------------------------
    def _next_batch(self):
        with self._cond:
            while True:
                if self._ready:
                    batch = self._ready.popleft()
                    break
                if self._stopped and not self._open:
                    return None
                now = time.monotonic()
                due = [b for b in self._open.values() if b.deadline <= now or self._stopped]
                if due:
                    batch = min(due, key=lambda b: b.deadline)
                    del self._open[batch.key]
                    break
                wait = min((b.deadline - now for b in self._open.values()), default=None)
                self._cond.wait(wait)
            self._waiting[batch.key] -= 1
            if not self._waiting[batch.key]:
                del self._waiting[batch.key]
            return batch

    def _worker(self):
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            self._process(batch)

    def _padded_size(self, size):
        for allowed in self.options.allowed_batch_sizes:
            if allowed >= size:
                return allowed
        return size

    def _process(self, batch):
        tasks = [task for task in batch.tasks if task.future.set_running_or_notify_cancel()]
        if not tasks:
            return
        signature_name, output_filter, _ = batch.key
        try:
            self._answer(signature_name, output_filter, tasks)
        except Exception as error:  # noqa: BLE001 - delivered to the waiting requests
            if len(tasks) == 1:
                tasks[0].future.set_exception(error)
                return
            # One client's bad input fails the whole run: each request is answered alone, so
            # that only the bad one fails, with row positions counted in its own request.
            for task in tasks:
                try:
                    self._answer(signature_name, output_filter, [task])
                except Exception as alone_error:  # noqa: BLE001
                    task.future.set_exception(alone_error)

    def _answer(self, signature_name, output_filter, tasks):
        """Runs `tasks` as one batch (padded to an allowed size) and sets each one's rows."""
        total = sum(task.size for task in tasks)
        padded = self._padded_size(total)
        if len(tasks) == 1 and padded == total:
            merged = tasks[0].inputs
        else:
            merged = {}
            for name in tasks[0].inputs:
                parts = [task.inputs[name] for task in tasks]
                if padded > total:
                    parts.append(np.repeat(parts[0][:1], padded - total, axis=0))
                merged[name] = np.concatenate(parts, axis=0)
        if self._on_batch is not None:
            self._on_batch(total, padded)
        outputs = self._run(signature_name, merged, output_filter)
        for name, value in outputs.items():
            if np.ndim(value) == 0 or np.shape(value)[0] != padded:
                raise invalid_argument(
                    f"Batched output tensor '{name}' has shape {list(np.shape(value))}; its "
                    f"0th dimension must equal the batch size {padded}"
                )
        offset = 0
        for task in tasks:
            task.future.set_result({name: value[offset : offset + task.size] for name, value in outputs.items()})
            offset += task.size

    def stop(self):
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
