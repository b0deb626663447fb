"""Input-pipeline benchmark: what `kapps detection train` costs as a COCO folder grows.

    python benchmarks/input_pipeline.py                        # 600, 3,000 and 12,000 images
    python benchmarks/input_pipeline.py --sizes 100 --train-flags "--image-size 128 --width 8"
    python benchmarks/input_pipeline.py --pennfudan            # also rerun benchmarks/detection.py

For each size it writes a COCO-format folder of synthetic JPEGs (480×360, one to four filled
shapes each, boxed, three categories; `images/` and one `instances.json`), then runs, each in
its own process:

- `kapps detection train --data files:DIR/instances.json --epochs 1` (plus `--train-flags`),
  sampling the memory of the process and its children every 0.1 s: the peak resident set
  (the larger of the summed VmRSS of the tree and the trainer's own VmHWM);
- the seconds from starting that command to the end of its first training step (and the CPU
  seconds the process spent by then, which contention on a shared machine does not inflate),
  and the training images/s after it (the epoch's other steps), from a Keras callback added to every
  `Model.fit` of the process (the command runs through `apps.cli.main` unchanged);
- the input pipeline alone: `App.load_data` with the same flags and one pass over its training
  split without a model, in images/s (after the first batch).

Goals (issue 28): peak RSS grows by less than 300 MB from 600 to 12,000 images; the first step
within 15 s at every size; input images/s above training images/s (the step never waits on
input). The big sizes take long on a small machine (one epoch of 12,000 images).
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # before benchmarks/ (its tuner.py would hide the tuner package)
SIZES = (600, 3000, 12000)
WIDTH, HEIGHT = 480, 360
CATEGORIES = ("disc", "square", "bar")
MARKER = "input-pipeline-benchmark:"
POLL_SECONDS = 0.1
GOAL_RSS_GROWTH_MB = 300
GOAL_FIRST_STEP_SECONDS = 15
PENN_FUDAN = ROOT.parent / "shared" / "datasets" / "pennfudan"


# ----- the synthetic COCO folder --------------------------------------------------------------
def write_coco_folder(folder, count, seed=0):
    """`count` JPEGs of filled shapes on a shaded background in `folder/images` and their boxes
    in `folder/instances.json`; returns the JSON's path. Kept when it already exists."""
    import numpy as np
    from PIL import Image, ImageDraw

    folder = Path(folder)
    document_path = folder / "instances.json"
    if document_path.is_file():
        return document_path
    (folder / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, WIDTH)[None, :, None] * np.linspace(0.3, 1, HEIGHT)[:, None, None]
    images, annotations = [], []
    for image_id in range(1, count + 1):
        tint = rng.integers(40, 200, 3)
        background = (ramp * tint + rng.integers(0, 30, (HEIGHT, WIDTH, 1))).clip(0, 255).astype(np.uint8)
        picture = Image.fromarray(background)
        draw = ImageDraw.Draw(picture)
        for _ in range(int(rng.integers(1, 5))):
            category = int(rng.integers(len(CATEGORIES)))
            width, height = (int(size) for size in rng.integers(30, 160, 2))
            x, y = int(rng.integers(0, WIDTH - width)), int(rng.integers(0, HEIGHT - height))
            colour = tuple(int(value) for value in rng.integers(0, 256, 3))
            shape = (x, y, x + width, y + height)
            if CATEGORIES[category] == "disc":
                draw.ellipse(shape, fill=colour)
            elif CATEGORIES[category] == "square":
                draw.rectangle(shape, fill=colour)
            else:
                draw.rectangle((x, y + height // 3, x + width, y + 2 * height // 3), fill=colour)
                y, height = y + height // 3, height // 3
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": category + 1,
                    "bbox": [x, y, width, height],
                    "area": width * height,
                    "iscrowd": 0,
                }
            )
        name = f"{image_id:06d}.jpg"
        picture.save(folder / "images" / name, quality=90)
        images.append({"id": image_id, "file_name": name, "width": WIDTH, "height": HEIGHT})
    categories = [{"id": index + 1, "name": name} for index, name in enumerate(CATEGORIES)]
    document_path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return document_path


# ----- measuring a process --------------------------------------------------------------------
def _status_kb(pid, field):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _tree(pid):
    """`pid` and its descendants, from /proc/PID/task/*/children."""
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                pending += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                pass
    return found


def run_measured(command, env, log_path):
    """Runs `command`, its output to `log_path`; returns `(exit status, peak RSS MB, start time)`."""
    started = time.time()
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        peak_tree_kb = own_peak_kb = 0
        while process.poll() is None:
            peak_tree_kb = max(peak_tree_kb, sum(_status_kb(pid, "VmRSS") for pid in _tree(process.pid)))
            own_peak_kb = max(own_peak_kb, _status_kb(process.pid, "VmHWM"))
            time.sleep(POLL_SECONDS)
    return process.returncode, max(peak_tree_kb, own_peak_kb) / 1024, started


def _marked(log_path):
    """The `MARKER` records the child printed, as dicts."""
    lines = Path(log_path).read_text().splitlines()
    return [json.loads(line.split(MARKER, 1)[1]) for line in lines if MARKER in line]


# ----- inside the child processes ---------------------------------------------------------------
def _emit(**values):
    print("\n" + MARKER + json.dumps(values), flush=True)  # on a line of its own, after Keras' progress bar


def _time_every_fit():
    """Adds a callback to every `keras.Model.fit` that reports when the first step ended and the
    training images/s of the epoch's later steps."""
    import keras

    class StepClock(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 1:
                self.second_step = time.time()

        def on_train_batch_end(self, batch, logs=None):
            self.steps, self.last_step_end = batch + 1, time.time()
            if batch == 0:
                _emit(first_step_end=self.last_step_end, first_step_cpu_seconds=time.process_time())

        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0 and getattr(self, "steps", 0) > 1:  # validation is not counted
                _emit(later_steps=self.steps - 1, later_steps_seconds=self.last_step_end - self.second_step)

    fit = keras.Model.fit

    def timed_fit(model, *args, callbacks=None, **kwargs):
        return fit(model, *args, callbacks=[*(callbacks or []), StepClock()], **kwargs)

    keras.Model.fit = timed_fit


def child_train(argv):
    """`kapps <argv>` with the step clock."""
    from apps.core.backend import import_tensorflow_quietly

    import_tensorflow_quietly()
    _time_every_fit()
    from apps import cli

    return cli.main(argv)


def child_input(argv):
    """One pass over the training split of `kapps <argv>`'s config, without a model: images/s."""
    from apps.core.backend import import_tensorflow_quietly

    import_tensorflow_quietly()
    from apps.catalog import load_apps
    from apps.cli import build_parser
    from apps.core.config import overrides_from_args

    registry = load_apps()
    args = build_parser(registry).parse_args(argv)
    app = registry.get(args.command)
    config = app.default_config().replace(**overrides_from_args(args)).validate()
    data = app.load_data(config)
    batches = iter(data.train)
    first = next(batches)
    started, images = time.time(), 0
    for batch in batches:
        images += len(_first_tensor(batch))
    _emit(input_images=images, input_seconds=time.time() - started, first_batch=len(_first_tensor(first)))


def _first_tensor(batch):
    import tensorflow as tf

    return tf.nest.flatten(batch)[0]


# ----- the benchmark ------------------------------------------------------------------------------
def measure(size, work_dir, train_flags):
    """The figures of one size: peak RSS, seconds to the first step, input and training images/s."""
    document = write_coco_folder(Path(work_dir) / f"coco-{size}", size)
    flags = [
        "detection",
        "train",
        "--data",
        f"files:{document}",
        "--epochs",
        "1",
        "--run-dir",
        str(Path(work_dir) / f"run-{size}-{int(time.time())}"),
        *train_flags,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow", "PYTHONUNBUFFERED": "1"}
    me = [sys.executable, str(Path(__file__).resolve())]
    train_log = Path(work_dir) / f"train-{size}.log"
    status, peak_mb, started = run_measured([*me, "--child-train", "--", *flags], env, train_log)
    if status != 0:
        raise SystemExit(f"training on {size} images failed (exit {status}); see {train_log}")
    trained = {key: value for record in _marked(train_log) for key, value in record.items()}
    input_log = Path(work_dir) / f"input-{size}.log"
    status, input_peak_mb, _ = run_measured([*me, "--child-input", "--", *flags], env, input_log)
    if status != 0:
        raise SystemExit(f"reading the input of {size} images failed (exit {status}); see {input_log}")
    read = _marked(input_log)[-1]
    batch = read["first_batch"]
    return {
        "images": size,
        "peak_rss_mb": round(peak_mb),
        "input_only_peak_rss_mb": round(input_peak_mb),
        "seconds_to_first_step": round(trained["first_step_end"] - started, 1),
        "cpu_seconds_to_first_step": round(trained["first_step_cpu_seconds"], 1),
        "input_images_per_s": round(read["input_images"] / read["input_seconds"], 1),
        "train_images_per_s": round(trained["later_steps"] * batch / trained["later_steps_seconds"], 1)
        if "later_steps" in trained
        else None,
    }


def report(results):
    header = (
        f"{'images':>7} {'peak RSS MB':>12} {'input-only RSS MB':>18} {'s to 1st step':>14} "
        f"{'CPU s to 1st':>13} {'input img/s':>12} {'train img/s':>12}"
    )
    print(header)
    for row in results:
        print(
            f"{row['images']:>7} {row['peak_rss_mb']:>12} {row['input_only_peak_rss_mb']:>18} "
            f"{row['seconds_to_first_step']:>14} {row['cpu_seconds_to_first_step']:>13} "
            f"{row['input_images_per_s']:>12} {row['train_images_per_s']!s:>12}"
        )
    if len(results) > 1:
        growth = results[-1]["peak_rss_mb"] - results[0]["peak_rss_mb"]
        print(
            f"peak RSS growth {results[0]['images']} → {results[-1]['images']} images: {growth} MB "
            f"(goal < {GOAL_RSS_GROWTH_MB} MB: {'met' if growth < GOAL_RSS_GROWTH_MB else 'not met'})"
        )
    slowest = max(row["seconds_to_first_step"] for row in results)
    print(
        f"slowest first step: {slowest} s (goal <= {GOAL_FIRST_STEP_SECONDS} s: "
        f"{'met' if slowest <= GOAL_FIRST_STEP_SECONDS else 'not met'})"
    )
    starved = [
        row["images"]
        for row in results
        if row["train_images_per_s"] and row["input_images_per_s"] < row["train_images_per_s"]
    ]
    print(
        "input faster than training at every size"
        if not starved
        else f"input slower than training at {starved} images: the step waits on input"
    )


def run_pennfudan(extra):
    """Reruns `benchmarks/detection.py` on Penn-Fudan (AP50 to compare with the README's)."""
    command = [sys.executable, str(ROOT / "benchmarks" / "detection.py"), "--data", f"files:{PENN_FUDAN}", *extra]
    print("$", shlex.join(command), flush=True)
    return subprocess.run(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}).returncode


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:2] in (["--child-train", "--"], ["--child-input", "--"]):
        return child_train(argv[2:]) if argv[0] == "--child-train" else child_input(argv[2:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--sizes", default=",".join(map(str, SIZES)), help="comma-separated image counts (default %(default)s)"
    )
    parser.add_argument(
        "--work-dir",
        default="/tmp/kapps-input-pipeline",
        help="where the COCO folders (kept and reused), runs and logs go (default %(default)s)",
    )
    parser.add_argument(
        "--train-flags", default="", help='more `kapps detection train` flags, e.g. "--image-size 128 --width 8"'
    )
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument(
        "--pennfudan", action="store_true", help="then rerun benchmarks/detection.py on ../shared/datasets/pennfudan"
    )
    parser.add_argument("--pennfudan-flags", default="", help="more benchmarks/detection.py flags")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    results = []
    for size in sizes:
        results.append(measure(size, args.work_dir, shlex.split(args.train_flags)))
        print(f"{size} images: {results[-1]}", flush=True)
    report(results)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if args.pennfudan:
        return run_pennfudan(shlex.split(args.pennfudan_flags))
    return 0


if __name__ == "__main__":
    sys.exit(main())
