"""Distributed-training benchmark: examples per second of digits on 1 and 2 replicas, and how
far a step on 2 replicas lands from the same step on one device.

    python benchmarks/distributed.py [--data files:../shared/datasets/mnist] [--max-examples 8192]
        [--epochs 2] [--backends tensorflow,jax] [--json out.json]

Each (backend, replicas) pair runs in its own process, because devices are fixed when the
backend starts: TensorFlow trains with `--distribute mirrored` (over the GPUs, or the CPU split
into logical devices), JAX with `--distribute data-parallel` (its devices, or host devices on a
CPU). Training goes through `App.make_model`/`App.train` under the `Distribution` that
`kapps <app> train` uses; the rate is the training examples over the last epoch's seconds (the
first includes tracing and compiling). On a CPU, replicas share the same cores: expect no
speed-up there, only the cost of the machinery; the figures that matter come from GPUs.

The step check trains a dense model without batch statistics for 8 Adam steps of a global
batch of 64 on one device and on 2 replicas from the same weights, and prints the largest
weight difference (rounding from summing gradients in another order).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

ENGINES = {"tensorflow": "mirrored", "jax": "data-parallel"}
CHECK_STEPS, CHECK_BATCH = 8, 64


def run_one(args):
    """In a fresh process: one (backend, replicas) measurement, printed as a JSON line."""
    from apps.core.distribute import prepare_host_devices

    prepare_host_devices(args.backend, ENGINES[args.backend], args.replicas)
    os.environ["KERAS_BACKEND"] = args.backend
    from apps.core.backend import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    from apps.catalog import load_apps
    from apps.core.distribute import Distribution, start_distribution
    from benchmarks.common import EpochClock

    app = load_apps().get("digits")
    config = app.default_config().replace(
        data=args.data, epochs=args.epochs, max_examples=args.max_examples, batch_size=args.batch_size
    )
    if args.replicas > 1:
        config = config.replace(distribute=ENGINES[args.backend], replicas=args.replicas)
    distribution = start_distribution(config) if args.replicas > 1 else Distribution()
    keras.utils.set_random_seed(config.seed)
    data = app.load_data(config)
    clock = EpochClock()
    with distribution.scope():
        model = app.make_model(config, data)
        app.train(model, distribution.split_evenly(data), config, callbacks=[clock])
    result = {
        "backend": args.backend,
        "replicas": distribution.replicas,
        "engine": distribution.kind,
        "epoch_seconds": [round(seconds, 2) for seconds in clock.seconds],
        "examples_per_second": round(data.train_examples / clock.seconds[-1], 1),
    }
    if args.replicas > 1:
        result["step_difference"] = step_difference(distribution)
    print("RESULT " + json.dumps(result), flush=True)


def step_difference(distribution):
    import keras
    import numpy as np
    import tensorflow as tf

    from apps.core.distribute import Distribution

    rng = np.random.default_rng(7)
    features = rng.normal(size=(CHECK_STEPS * CHECK_BATCH, 32)).astype("float32")
    labels = (features[:, :4].sum(axis=1) > 0).astype("float32")

    def build():
        model = keras.Sequential(
            [
                keras.Input((32,)),
                keras.layers.Dense(64, activation="gelu"),
                keras.layers.Dense(64, activation="gelu"),
                keras.layers.Dense(1),
            ]
        )
        model.compile(keras.optimizers.Adam(1e-3), keras.losses.BinaryCrossentropy(from_logits=True))
        return model

    initial = build().get_weights()
    weights = []
    for engine in (Distribution(), distribution):
        with engine.scope():
            model = build()
            model.set_weights(initial)
        model.fit(tf.data.Dataset.from_tensor_slices((features, labels)).batch(CHECK_BATCH), verbose=0)
        weights.append(model.get_weights())
    return float(max(np.abs(a - b).max() for a, b in zip(*weights)))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="builtin")
    parser.add_argument("--max-examples", type=int, default=8192)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--backends", default="tensorflow,jax")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--backend", help=argparse.SUPPRESS)  # a child process's own run
    parser.add_argument("--replicas", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.backend:
        return run_one(args)
    results = []
    for backend in args.backends.split(","):
        for replicas in (1, 2):
            command = [
                sys.executable,
                __file__,
                "--backend",
                backend,
                "--replicas",
                str(replicas),
                "--data",
                args.data,
                "--max-examples",
                str(args.max_examples),
                "--epochs",
                str(args.epochs),
                "--batch-size",
                str(args.batch_size),
            ]
            with tempfile.TemporaryDirectory() as folder:
                output = subprocess.run(command, cwd=folder, capture_output=True, text=True)
            lines = [line for line in output.stdout.splitlines() if line.startswith("RESULT ")]
            if output.returncode != 0 or not lines:
                raise SystemExit(f"{backend} x{replicas} failed:\n{output.stderr[-3000:]}")
            results.append(json.loads(lines[-1][len("RESULT ") :]))
            print(_row(results[-1]), flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


def _row(result):
    difference = result.get("step_difference")
    check = f", 2-replica step vs 1 device: max |dw| = {difference:.2e}" if difference is not None else ""
    return (
        f"{result['backend']:<10} {result['replicas']} replica(s) ({result['engine']}): "
        f"{result['examples_per_second']:8.1f} examples/s, epochs {result['epoch_seconds']} s{check}"
    )


if __name__ == "__main__":
    main()
