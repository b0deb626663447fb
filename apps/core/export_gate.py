"""The export gate: a new version must not be worse than the newest one already exported.

The idea of TFX's Evaluator "blessing": `kapps <app> export` compares the run's test
metric `App.gate_metric` with the one stored in the newest version's
`assets.extra/metrics.json` and refuses to write a version worse by more than the
tolerance, unless forced. A first export, or a newest version without stored metrics
(exported by something else), always passes.
"""

import json
import math
from pathlib import Path

from apps.core.errors import InputError

METRICS_ASSET = "metrics.json"
DEFAULT_TOLERANCE = 0.01


class ExportRefused(InputError):
    """The candidate is worse than the newest exported version; the message names both figures."""


def stored_metrics(version_dir):
    """The metrics an export stored beside its SavedModel, or None."""
    path = Path(version_dir) / "assets.extra" / METRICS_ASSET
    return json.loads(path.read_text()) if path.exists() else None


def check_candidate(app, metrics, model_dir, tolerance=DEFAULT_TOLERANCE, force=False):
    """Raises `ExportRefused` when `metrics` (the run's) are worse on `app.gate_metric` than
    the newest version under `model_dir` by more than `tolerance`; returns a line saying
    what was compared (None when there was nothing to compare with)."""
    from serving.export import existing_versions

    if tolerance < 0:
        raise InputError(f"--gate-tolerance must be 0 or more, got {tolerance}.")
    versions = existing_versions(model_dir)
    incumbent = stored_metrics(Path(model_dir) / str(versions[-1])) if versions else None
    if incumbent is None:
        return None
    name = app.gate_metric
    if name not in metrics:
        raise InputError(
            f"The run's metrics have no {name!r} (the {app.name} export gate's metric): "
            f"re-evaluate it with `kapps {app.name} evaluate`."
        )
    candidate, previous = float(metrics[name]), float(incumbent.get(name, math.nan))
    comparison = (
        f"{name} {candidate:.4f} against version {versions[-1]}'s {previous:.4f} "
        f"({'higher' if app.objective_direction == 'max' else 'lower'} is better, "
        f"tolerance {tolerance})"
    )
    if _worse(candidate, previous, app.objective_direction, tolerance) and not force:
        raise ExportRefused(
            f"Export refused: {comparison}. Pass --force to export it anyway, or "
            "--gate-tolerance to allow a larger drop."
        )
    return ("Export gate passed: " if not force else "Export gate skipped (--force): ") + comparison


def _worse(candidate, previous, direction, tolerance):
    if math.isnan(previous):
        return False
    if math.isnan(candidate):
        return True
    return candidate < previous - tolerance if direction == "max" else candidate > previous + tolerance
