"""Giving memory back to the system after a spike (a large request, a decompression bomb).

Two things hold on to a spike's memory in a TensorFlow server. TensorFlow's oneDNN CPU
allocator pools every large buffer it ever allocated (a BFC allocator that never
frees: a 20000×20000 PNG left 2 GB held), so `kapps serve` sets
`TF_ONEDNN_USE_SYSTEM_ALLOCATOR=1` before TensorFlow allocates its first tensor
(`use_system_allocator`), and its buffers come from malloc. glibc's malloc then keeps
freed memory in its per-thread arenas, so `MemoryReleaser`, a background thread, calls
`malloc_trim(0)` while the resident set is well above the lowest it has been
(benchmarks/serving_memory.py measures both).
"""

import ctypes
import ctypes.util
import logging
import os
import threading
import time

log = logging.getLogger("kapps.serving")

SYSTEM_ALLOCATOR_VARIABLE = "TF_ONEDNN_USE_SYSTEM_ALLOCATOR"
RELEASE_GROWTH_BYTES = 64 << 20
RELEASE_INTERVAL_SECONDS = 1.0
MAX_PAUSE_SECONDS = 32.0


def use_system_allocator():
    """Makes TensorFlow's oneDNN allocator use malloc (call before TensorFlow loads; an
    explicit setting in the environment wins)."""
    os.environ.setdefault(SYSTEM_ALLOCATOR_VARIABLE, "1")


def resident_bytes():
    """This process's resident set size (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _malloc_trim():
    """glibc's `malloc_trim`, or None on another C library."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        return None


class MemoryReleaser:
    """A thread that calls `malloc_trim(0)` while the resident set is `growth_bytes` above
    the lowest it has been. A trim that releases little (memory still in use, or a model
    loaded since) doubles the pause before the next one, up to `MAX_PAUSE_SECONDS`; a new
    rise of `growth_bytes` ends the pause."""

    def __init__(self, growth_bytes=RELEASE_GROWTH_BYTES, interval=RELEASE_INTERVAL_SECONDS):
        self.growth_bytes = growth_bytes
        self.interval = interval
        self.releases = 0
        self._trim = _malloc_trim()
        self._floor = self._after_trim = resident_bytes()
        self._pause = interval
        self._next = 0.0
        self._stop = threading.Event()
        self._thread = None

    def check(self, now=None):
        """One check; returns whether it trimmed."""
        now = time.monotonic() if now is None else now
        resident = resident_bytes()
        self._floor = min(self._floor, resident)
        if resident - self._floor <= self.growth_bytes:
            return False
        if resident - self._after_trim > self.growth_bytes:
            self._next, self._pause = 0.0, self.interval  # a new rise since the last trim
        if now < self._next:
            return False
        self._trim(0)
        self.releases += 1
        self._after_trim = resident_bytes()
        released = resident - self._after_trim
        self._pause = self.interval if released >= self.growth_bytes // 4 else min(2 * self._pause, MAX_PAUSE_SECONDS)
        self._next = now + self._pause
        log.debug("malloc_trim: resident %d MB -> %d MB", resident >> 20, self._after_trim >> 20)
        return True

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.check()

    def start(self):
        if self._trim is not None and self._floor:
            self._thread = threading.Thread(target=self._loop, name="memory-releaser", daemon=True)
            self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
