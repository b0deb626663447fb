"""Serving memory benchmark: what hostile-sized requests cost `kapps serve` in RSS.

    python benchmarks/serving_memory.py [--digits-export DIR] [--sentiment-export DIR]
                                        [--settle-seconds 60] [--json out.json] [-- SERVER FLAGS]

Trains tiny digits and sentiment models on builtin data through `apps.core.workflow`
and exports them (or serves the exports given by `--digits-export` /
`--sentiment-export`: a version folder `.../<app>/<N>`). For each request below it
starts `kapps serve` as a subprocess, sends one request over REST and prints the
server's idle RSS (before the request), its peak RSS during the request (the kernel's
high-water mark, reset just before) and its RSS `--settle-seconds` after the answer:

- `json_body`: a 64 MB `:predict` body (the default body limit) of 28×28 digit images
  written as JSON integers 0–255, to digits' `serving_default`;
- `png_bomb`: a ~389 KB PNG whose header claims 20000×20000 pixels (its IDAT is
  compressed zeros), to digits' `serve_image_bytes`;
- `reviews`: fifty 1 MB reviews in one request to sentiment's `serving_default`.

Goal: under 1.5 GB peak each, and back within 10% of the idle RSS after a minute.
Arguments after `--` are passed to `kapps serve` (e.g. `-- --enable_batching`);
the environment is passed too (e.g. `LD_PRELOAD=...libjemalloc.so.2` to compare
allocators).
"""

import argparse
import base64
import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
BODY_BYTES = 64 << 20
BOMB_SIDE = 20000
REVIEW_COUNT, REVIEW_BYTES = 50, 1 << 20
GOAL_PEAK_BYTES = 1.5e9
GOAL_SETTLED_RATIO = 1.10
TINY_OVERRIDES = {"digits": {"max_examples": 512}, "sentiment": {}}


# ----- models -----------------------------------------------------------------
def train_and_export(app_name, base, overrides):
    """A tiny model of `app_name` trained on builtin data, exported under `base`."""
    from apps.catalog import load_apps
    from apps.core import workflow

    app = load_apps().get(app_name)
    config = app.tiny_config().replace(**overrides)
    run, _ = workflow.train(app, config, run_dir=Path(base) / "runs" / app_name, verbose=False)
    return workflow.export(app, run.path, Path(base) / "models")


# ----- requests ------------------------------------------------------------------
def json_body():
    """A `:predict` body just under the 64 MB limit: digit images as JSON integers."""
    from apps.digits.data import builtin_arrays

    (images, _), _ = builtin_arrays()
    rows = [json.dumps(image.astype(int).tolist()).replace(" ", "").encode() for image in images]
    parts, size, index = [], 0, 0
    while True:
        row = rows[index % len(rows)]
        if size + len(row) + 64 > BODY_BYTES:
            break
        parts.append(row)
        size += len(row) + 1
        index += 1
    return b'{"instances": [' + b",".join(parts) + b"]}", f"{len(parts)} images"


def png_bomb(side=BOMB_SIDE):
    """A grayscale PNG claiming side×side pixels; its IDAT holds compressed zero rows."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    compressor = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte 0 and a row of black pixels
    idat = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def bomb_body():
    png = png_bomb()
    body = json.dumps(
        {"signature_name": "serve_image_bytes", "instances": [{"b64": base64.b64encode(png).decode()}]}
    ).encode()
    return body, f"a {len(png) / 1e3:.0f} KB PNG of {BOMB_SIDE}x{BOMB_SIDE}"


def reviews_body():
    sentence = "the plot was not good but the cast was superb and the ending moved me. "
    review = (sentence * (REVIEW_BYTES // len(sentence) + 1))[:REVIEW_BYTES]
    return json.dumps(
        {"instances": [review] * REVIEW_COUNT}
    ).encode(), f"{REVIEW_COUNT} reviews of {REVIEW_BYTES >> 20} MB"


# ----- the server -------------------------------------------------------------------
def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(name, model_dir, flags):
    rest = free_port()
    command = [
        sys.executable,
        "-m",
        "kapps",
        "serve",
        "--port",
        str(free_port()),
        "--rest_api_port",
        str(rest),
        "--model_name",
        name,
        "--model_base_path",
        str(model_dir),
        "--file_system_poll_wait_seconds",
        "0",
        *flags,
    ]
    process = subprocess.Popen(
        command,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("Exporting HTTP/REST API"):
            threading.Thread(target=process.stdout.read, daemon=True).start()
            return process, rest
        if not line and process.poll() is not None:
            break
    process.kill()
    raise RuntimeError(f"kapps serve did not start for {model_dir}")


def status_field(pid, field):
    """A `/proc/<pid>/status` memory field (VmRSS, VmHWM) in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak(pid):
    """Resets the kernel's RSS high-water mark (VmHWM) to the current RSS."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def post(port, path, body):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def measure(name, model_dir, body, what, settle_seconds, flags):
    process, port = start_server(name, model_dir, flags)
    try:
        time.sleep(2)
        idle = status_field(process.pid, "VmRSS")
        reset_peak(process.pid)
        started = time.monotonic()
        status, answer = post(port, f"/v1/models/{name}:predict", body)
        seconds = time.monotonic() - started
        peak = status_field(process.pid, "VmHWM")
        after_answer = status_field(process.pid, "VmRSS")
        time.sleep(settle_seconds)
        settled = status_field(process.pid, "VmRSS")
    finally:
        process.terminate()
        process.wait(60)
    text = answer.decode("utf-8", "replace")
    return {
        "request": what,
        "body_mb": len(body) / 2**20,
        "http_status": status,
        "answer": text if status != 200 else text[:120],
        "seconds": seconds,
        "idle_mb": idle / 2**20,
        "peak_mb": peak / 2**20,
        "after_answer_mb": after_answer / 2**20,
        "settled_mb": settled / 2**20,
        "peak_goal_met": peak < GOAL_PEAK_BYTES,
        "settled_goal_met": settled <= GOAL_SETTLED_RATIO * idle,
    }


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    flags = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--digits-export", help="a digits version folder (default: train one)")
    parser.add_argument("--sentiment-export", help="a sentiment version folder (default: train one)")
    parser.add_argument("--settle-seconds", type=float, default=60.0)
    parser.add_argument("--only", nargs="*", choices=["json_body", "png_bomb", "reviews"])
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    only = set(args.only or ["json_body", "png_bomb", "reviews"])
    exports = {"digits": args.digits_export, "sentiment": args.sentiment_export}
    cases = {
        "json_body": ("digits", json_body),
        "png_bomb": ("digits", bomb_body),
        "reviews": ("sentiment", reviews_body),
    }
    results = {}
    with tempfile.TemporaryDirectory() as work:
        for case, (name, make_body) in cases.items():
            if case not in only:
                continue
            if not exports[name]:
                exports[name] = train_and_export(name, work, TINY_OVERRIDES[name])
            version_dir = Path(exports[name])
            body, what = make_body()
            result = measure(name, version_dir.parent, body, what, args.settle_seconds, flags)
            results[case] = result
            print(
                f"{case:10s} {what}: HTTP {result['http_status']} in {result['seconds']:.1f} s; "
                f"RSS idle {result['idle_mb']:.0f} MB, peak {result['peak_mb']:.0f} MB, "
                f"right after {result['after_answer_mb']:.0f} MB, "
                f"{args.settle_seconds:.0f} s later {result['settled_mb']:.0f} MB"
                + ("" if result["http_status"] == 200 else f"; answer {result['answer'][:200]}"),
                flush=True,
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
