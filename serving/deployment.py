"""Writes the `models.config` files for several apps (TF Serving image and `kapps serve`).

    python -m serving.deployment --model-base-path models --apps digits churn \\
        --policy latest:2 --label digits:stable=3
"""

import argparse
import sys
from pathlib import Path

from serving.model_config import ModelEntry, build_config, write_model_config

DEPLOY_DIR = Path(__file__).resolve().parent / "deploy"
CONTAINER_MODEL_BASE = "/models"


def _labels(items):
    labels = {}
    for item in items or ():
        app, _, pair = item.partition(":")
        label, _, version = pair.partition("=")
        if not (app and label and version.isdigit()):
            raise SystemExit(f"--label {item!r}: expected APP:LABEL=VERSION")
        labels.setdefault(app, {})[label] = int(version)
    return labels


def write_configs(model_base_path, apps, policy="latest:1", labels=None):
    """Writes `<base>/models.config` (container paths) and `<base>/models.local.config`."""
    base = Path(model_base_path)
    labels = labels or {}
    container = build_config(
        [ModelEntry(app, f"{CONTAINER_MODEL_BASE}/{app}", policy, labels.get(app, {})) for app in apps]
    )
    local = build_config([ModelEntry(app, str((base / app).resolve()), policy, labels.get(app, {})) for app in apps])
    return (
        write_model_config(base / "models.config", container),
        write_model_config(base / "models.local.config", local),
    )


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m serving.deployment", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model-base-path", default="models")
    parser.add_argument("--apps", nargs="+", help="apps to serve (default: every exported one)")
    parser.add_argument("--policy", default="latest:1", help="latest:N, all or specific:V1,V2")
    parser.add_argument("--label", action="append", help="APP:LABEL=VERSION (repeatable)")
    args = parser.parse_args(argv)
    base = Path(args.model_base_path)
    apps = args.apps
    if not apps and base.is_dir():
        apps = sorted(p.name for p in base.iterdir() if p.is_dir() and any(c.name.isdigit() for c in p.iterdir()))
    if not apps:
        raise SystemExit(f"No exported models under {base}; run `kapps <app> export` first.")
    for path in write_configs(base, apps, args.policy, _labels(args.label)):
        print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
