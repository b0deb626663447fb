"""Precision and compilation benchmark: seconds per epoch with and without
`--mixed-precision` and `--jit-compile`, on the backend at hand.

    python benchmarks/precision.py --app digits --data files:../shared/datasets/mnist \
        [--max-examples 12000] [--epochs 2] [--json out.json]

For each of float32 / mixed precision × XLA on / off, builds the app's default config
through `App.make_model` (the path `kapps <app> train` takes), trains it with
`App.train` for `--epochs` epochs and prints the seconds of each epoch (the first
includes tracing and compiling; the last is the steady state) and the test metric
of `App.gate_metric` from `App.evaluate`. Mixed precision is `mixed_bfloat16` on a
CPU and `mixed_float16` on a GPU.
"""

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from apps.core.backend import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

import keras  # noqa: E402

from apps.catalog import load_apps  # noqa: E402
from apps.core.precision import dtype_policy  # noqa: E402
from apps.core.runs import Run  # noqa: E402
from benchmarks.common import EpochClock  # noqa: E402

SETTINGS = ((False, "off"), (False, "on"), (True, "off"), (True, "on"))


def measure(app, config, mixed, jit):
    config = config.replace(mixed_precision=mixed, jit_compile=jit)
    keras.utils.set_random_seed(config.seed)
    data = app.load_data(config)
    model = app.make_model(config, data)
    clock = EpochClock()
    app.train(model, data, config, callbacks=[clock])
    with tempfile.TemporaryDirectory() as folder:
        metrics = app.evaluate(model, data, config, Run(app.name, folder))
    return {
        "policy": dtype_policy(config),
        "jit_compile": jit,
        "epoch_seconds": clock.seconds,
        app.gate_metric: metrics[app.gate_metric],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--app", default="digits")
    parser.add_argument("--data", default="files:../shared/datasets/mnist")
    parser.add_argument("--max-examples", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--json")
    args = parser.parse_args()
    app = load_apps().get(args.app)
    config = app.default_config().replace(data=args.data, max_examples=args.max_examples, epochs=args.epochs)
    print(
        f"{app.name} on {keras.backend.backend()}, {args.max_examples or 'all'} training examples, "
        f"{args.epochs} epochs",
        flush=True,
    )
    results = []
    for mixed, jit in SETTINGS:
        result = measure(app, config, mixed, jit)
        results.append(result)
        epochs = " ".join(f"{seconds:6.1f}" for seconds in result["epoch_seconds"])
        print(
            f"{result['policy']:<15} jit {jit:<3}  s/epoch {epochs}   test {app.gate_metric} "
            f"{result[app.gate_metric]:.4f}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"app": app.name, "backend": keras.backend.backend(), "results": results}, handle, indent=2)


if __name__ == "__main__":
    main()
