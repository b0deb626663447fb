"""The main job (`make demo`): train digits offline, evaluate, export, answer from the export.

Runs on the bundled `builtin` digits, so it needs no network; about 2–3 minutes on 2 cores.
"""

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

DEMO_RUN_DIR = Path("runs/digits/demo")
DEMO_MODEL_BASE = Path("models")
DEMO_TRAIN_FLAGS = ["--data", "builtin", "--epochs", "12", "--seed", "7"]


def kapps(*arguments):
    """Runs one `kapps` command in a fresh process (each picks its backend at start)."""
    command = [sys.executable, "-m", "kapps", *arguments]
    print("\n$ kapps " + " ".join(arguments), flush=True)
    subprocess.run(command, check=True)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_server(url, seconds=60):
    import urllib.request

    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"The model server did not answer at {url} within {seconds} s.")


def predict_through_server(samples):
    """Starts `kapps serve` on a free port, asks it over REST, stops it."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "kapps",
            "serve",
            f"--rest_api_port={port}",
            f"--port={free_port()}",
            "--model_name=digits",
            f"--model_base_path={(DEMO_MODEL_BASE / 'digits').resolve()}",
        ],
    )
    try:
        wait_for_server(f"http://127.0.0.1:{port}/v1/models/digits")
        kapps("digits", "predict", "--server", f"http://127.0.0.1:{port}", *samples)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main():
    started = time.time()
    shutil.rmtree(DEMO_RUN_DIR, ignore_errors=True)
    kapps("digits", "train", "--run-dir", str(DEMO_RUN_DIR), *DEMO_TRAIN_FLAGS)
    kapps("digits", "export", "--run-dir", str(DEMO_RUN_DIR), "--model-base-path", str(DEMO_MODEL_BASE))
    samples = [str(path) for path in sorted((DEMO_RUN_DIR / "samples").glob("*.png"))[:4]]
    try:
        import serving.server  # noqa: F401
    except ModuleNotFoundError:
        kapps("digits", "predict", "--model-base-path", str(DEMO_MODEL_BASE), *samples)
    else:
        predict_through_server(samples)
    print(f"\nDemo finished in {time.time() - started:.0f} s. Plots and metrics: {DEMO_RUN_DIR}/")


if __name__ == "__main__":
    main()
