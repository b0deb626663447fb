"""Prometheus metrics in the text exposition format, with TF Serving's metric names."""

import threading
import time

LATENCY_BUCKETS_US = tuple(10 * 1.8**i for i in range(33))  # 10us .. ~2.6e9us
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
UNKNOWN_MODEL = "<unknown>"  # the model_name label of requests for a model not served (never a model name)


def _labels(pairs):
    if not pairs:
        return ""
    body = ",".join(
        f'{key}="{str(value).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for key, value in pairs
    )
    return "{" + body + "}"


class _Histogram:
    def __init__(self, buckets):
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, value):
        self.sum += value
        self.count += 1
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[index] += 1
                break


class Metrics:
    """Counters and histograms keyed by (metric name, label pairs); nothing is kept when
    `enabled` is false (monitoring off)."""

    def __init__(self, enabled=True):
        self.enabled = enabled
        self._lock = threading.Lock()
        self._counters = {}
        self._histograms = {}
        self._help = {}

    def count(self, name, labels=(), amount=1, help_text=""):
        if not self.enabled:
            return
        with self._lock:
            key = (name, tuple(labels))
            self._counters[key] = self._counters.get(key, 0) + amount
            self._help.setdefault(name, (help_text, "counter"))

    def observe(self, name, value, labels=(), buckets=LATENCY_BUCKETS_US, help_text=""):
        if not self.enabled:
            return
        with self._lock:
            key = (name, tuple(labels))
            histogram = self._histograms.get(key)
            if histogram is None:
                histogram = self._histograms[key] = _Histogram(buckets)
            histogram.observe(value)
            self._help.setdefault(name, (help_text, "histogram"))

    # ----- what the server records ---------------------------------------------
    def record_request(self, model_name, api, entrypoint, status, seconds):
        """One request; `model_name` must be a served model's or `UNKNOWN_MODEL` (a label
        per name a client sends would grow without bound)."""
        self.count(
            ":tensorflow:serving:request_count",
            (("model_name", model_name), ("status", status)),
            help_text="The total number of requests.",
        )
        self.observe(
            ":tensorflow:serving:request_latency",
            seconds * 1e6,
            (("model_name", model_name), ("API", api), ("entrypoint", entrypoint)),
            help_text="Distribution of wall time (in microseconds) for Tensorflow Serving request.",
        )

    def record_batch(self, size, padded):
        self.observe(
            ":tensorflow:serving:batching_session:processed_batch_size",
            padded,
            buckets=BATCH_BUCKETS,
            help_text="Tracks the batch size distribution on processing.",
        )
        self.observe(
            ":tensorflow:serving:batching_session:padding_size",
            padded - size,
            buckets=BATCH_BUCKETS,
            help_text="Tracks the padding size distribution on batches.",
        )

    def record_load(self, path, status, seconds=None):
        self.count(
            ":tensorflow:cc:saved_model:load_attempt_count",
            (("model_path", path), ("status", status)),
            help_text="The number of times a SavedModel was successfully loaded.",
        )
        if seconds is not None:
            self.observe(
                ":tensorflow:cc:saved_model:load_latency",
                seconds * 1e6,
                (("model_path", path),),
                help_text="Latency in microseconds for SavedModels that were successfully loaded.",
            )

    # ----- exposition -------------------------------------------------------------
    def render(self):
        lines = []
        with self._lock:
            names = sorted(self._help)
            for name in names:
                help_text, kind = self._help[name]
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} {kind}")
                if kind == "counter":
                    for (metric, labels), value in sorted(self._counters.items()):
                        if metric == name:
                            lines.append(f"{name}{_labels(labels)} {value}")
                    continue
                for (metric, labels), histogram in sorted(self._histograms.items(), key=lambda item: item[0]):
                    if metric != name:
                        continue
                    cumulative = 0
                    for bound, count in zip(histogram.buckets, histogram.counts):
                        cumulative += count
                        lines.append(f"{name}_bucket{_labels(labels + (('le', f'{bound:g}'),))} {cumulative}")
                    lines.append(f"{name}_bucket{_labels(labels + (('le', '+Inf'),))} {histogram.count}")
                    lines.append(f"{name}_sum{_labels(labels)} {histogram.sum:g}")
                    lines.append(f"{name}_count{_labels(labels)} {histogram.count}")
        return "\n".join(lines) + "\n"


class Timer:
    def __init__(self):
        self.start = time.perf_counter()

    def elapsed(self):
        return time.perf_counter() - self.start
