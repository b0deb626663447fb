"""Detection benchmark: COCO AP, AP50 and AP75 on held-out images for a wall-clock budget.

    python benchmarks/detection.py --data files:../shared/datasets/pennfudan
    python benchmarks/detection.py --builtin

Penn-Fudan (the PyTorch detection tutorial's split): the app's default config (any
field can be overridden: `--epochs 40 --width 24`) trains from scratch, through
`App.train`, on the first 120 images in name order (`--test-split last:50`, no
validation hold-out unless `--validation-fraction` says so) and is evaluated once,
after training, by pycocotools on the last 50, in each image's original pixels.
Training stops early if it reaches `--minutes`. `--builtin` does the same on the
generated scenes (their own train and test splits, 128×128 by default).
`--model retinanet` does the same with the RetinaNet variant (the README compares the two).
Prints AP, AP50, AP75 and the training minutes; `--json` also writes them.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from apps.catalog import load_apps  # noqa: E402
from apps.core.config import add_config_arguments, overrides_from_args  # noqa: E402
from apps.detection.config import DetectionConfig  # noqa: E402
from apps.detection.evaluation import split_metrics  # noqa: E402
from benchmarks.common import TimeLimit, data_line  # noqa: E402

PENN_FUDAN = "files:../shared/datasets/pennfudan"
GOAL_AP50 = 0.75
BUILTIN_DEFAULTS = {"image_size": 128, "width": 8, "epochs": 80, "batch_size": 16, "max_boxes": 8}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser, DetectionConfig)
    parser.set_defaults(config__data=PENN_FUDAN, config__test_split="last:50", config__validation_fraction=0.0)
    parser.add_argument("--builtin", action="store_true", help="the generated scenes instead (128x128 by default)")
    parser.add_argument("--minutes", type=float, default=30.0, help="wall-clock budget of the training")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument(
        "--save-run",
        help="also save the trained model, its config and test metrics in this run "
        "folder (then `kapps detection export --run-dir ...`)",
    )
    args = parser.parse_args()

    app = load_apps().get("detection")
    overrides = overrides_from_args(args)
    if args.builtin:
        given = {key for key, value in vars(args).items() if value is not None and key.startswith("config__")}
        overrides = {
            **{key: value for key, value in BUILTIN_DEFAULTS.items() if f"config__{key}" not in given},
            **overrides,
            "data": "builtin",
        }
    config = DetectionConfig(**overrides).validate()
    keras.utils.set_random_seed(config.seed)
    print(config.describe(), flush=True)
    loading = time.perf_counter()
    data = app.load_data(config)
    print(f"{data_line(data)} ({time.perf_counter() - loading:.0f} s to load)", flush=True)
    model = app.make_model(config, data)
    print(
        f"model: {model.count_params():,} parameters; {os.cpu_count()} CPUs visible, "
        f"{len(os.sched_getaffinity(0))} usable",
        flush=True,
    )
    limit = TimeLimit(args.minutes * 60, show=lambda key: key in ("loss", "val_loss", "val_map50", "val_map"))
    started = time.perf_counter()
    app.train(model, data, config, callbacks=[limit])
    seconds = time.perf_counter() - started
    evaluating = time.perf_counter()
    decode = lambda predictions, threshold=config.eval_score_threshold: app.decode_predictions(  # noqa: E731
        predictions, model, threshold
    )
    metrics, _ = split_metrics(model, data.info.test_described, decode, data.class_names, config.image_size)
    result = {
        "data": data.source,
        "train_images": data.train_examples,
        "test_images": data.test_examples,
        "epochs": limit.epochs,
        "training_minutes": round(seconds / 60, 2),
        "evaluation_seconds": round(time.perf_counter() - evaluating, 1),
        "parameters": model.count_params(),
        "backend": keras.backend.backend(),
        "config": config.to_dict(),
        **{key: value for key, value in metrics.items()},
    }
    print(
        f"\nAP {metrics['map']:.4f}  AP50 {metrics['map50']:.4f}  AP75 {metrics['map75']:.4f}  "
        f"AR@100 {metrics['ar100']:.4f}  ({limit.epochs} epochs, {seconds / 60:.1f} training minutes)"
    )
    print("per-class AP:", {name: round(value, 4) for name, value in metrics["per_class_ap"].items()})
    if not args.builtin:
        print(f"goal AP50 >= {GOAL_AP50}: {'reached' if metrics['map50'] >= GOAL_AP50 else 'not reached'}")
    if args.save_run:
        from apps.core import workflow
        from apps.core.runs import Run

        run = Run(app.name, args.save_run)
        run.save_config(config, keras.backend.backend())
        model.save(run.model_path)
        workflow.evaluate_model(app, model, data, config, run)
        print(f"Saved {run.model_path} and {run.metrics_path}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(result, handle, indent=2, default=float)


if __name__ == "__main__":
    main()
