"""`trial_runs.jsonl`: one line each time a tuner starts or ends a trial.

Every tuner process (the single one, or each distributed worker on a shared
filesystem) appends to the same file, so it shows which process ran which trial,
how often a trial was started (a killed trial is started again on resume), how
long it took and how much memory the process held afterwards.
"""

import json
import os
import socket
import time


def resident_memory_mb():
    import psutil

    return psutil.Process().memory_info().rss / 2**20


class TrialLedger:
    def __init__(self, path, tuner_id):
        self.path = path
        self.tuner_id = tuner_id

    def _append(self, record):
        line = json.dumps(
            {"time": time.time(), "tuner_id": self.tuner_id, "host": socket.gethostname(), "pid": os.getpid(), **record}
        )
        # One write of one short line in append mode: lines from several processes do not interleave.
        with open(self.path, "a") as handle:
            handle.write(line + "\n")

    def started(self, trial_id):
        self._append({"event": "start", "trial_id": trial_id})

    def ended(self, trial_id, status, seconds):
        self._append(
            {
                "event": "end",
                "trial_id": trial_id,
                "status": status,
                "seconds": round(seconds, 3),
                "rss_mb": round(resident_memory_mb(), 1),
            }
        )


def read_ledger(path):
    """The ledger's records, oldest first ([] when there is none)."""
    if not os.path.exists(path):
        return []
    with open(path) as handle:
        return [json.loads(line) for line in handle if line.strip()]


def runs_by_trial(records):
    """`{trial_id: {"starts": n, "ends": n, "tuner_id": last tuner}}`."""
    runs = {}
    for record in records:
        entry = runs.setdefault(record["trial_id"], {"starts": 0, "ends": 0, "tuner_id": None})
        entry["starts" if record["event"] == "start" else "ends"] += 1
        entry["tuner_id"] = record["tuner_id"]
    return runs
