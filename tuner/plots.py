"""objective.png: the objective against the most important hyperparameters."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from tuner.importance import MAX_CATEGORIES_FOR_NUMBERS, is_numeric  # noqa: E402
from tuner.report import completed, trial_sort_key  # noqa: E402


def _scatter_numbers(axis, values, objective):
    axis.scatter(values, objective, alpha=0.8)
    positive = all(value > 0 for value in values)
    if positive and max(values) / min(values) >= 20:
        axis.set_xscale("log")


def _label(value):
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _scatter_categories(axis, values, objective):
    if is_numeric(values):
        labels = [_label(value) for value in sorted(set(values))]
    else:
        labels = sorted({_label(value) for value in values})
    positions = [labels.index(_label(value)) for value in values]
    jitter = np.random.default_rng(0).uniform(-0.08, 0.08, len(values))
    axis.scatter(np.add(positions, jitter), objective, alpha=0.8)
    axis.set_xticks(range(len(labels)), labels)


def _plot_against(axis, records, name, objective_name, importance):
    present = [record for record in records if name in record["hyperparameters"]]
    values = [record["hyperparameters"][name] for record in present]
    objective = [record["objective"] for record in present]
    if is_numeric(values) and len(set(values)) > MAX_CATEGORIES_FOR_NUMBERS:
        _scatter_numbers(axis, values, objective)
    else:
        _scatter_categories(axis, values, objective)
    score = f" (importance {importance[name]:.2f})" if name in importance else ""
    axis.set_xlabel(name + score)
    axis.set_ylabel(objective_name)
    axis.grid(alpha=0.3)


def _plot_by_trial(axis, records, objective_name):
    ordered = sorted(records, key=lambda record: trial_sort_key(record["trial_id"]))
    axis.plot([record["trial_id"] for record in ordered], [record["objective"] for record in ordered], marker="o")
    axis.set_xlabel("trial")
    axis.set_ylabel(objective_name)
    axis.grid(alpha=0.3)


def plot_objective(records, names, objective, importance, path):
    """One panel per name in `names` (objective by trial when there are none)."""
    scored = completed(records)
    panels = max(1, len(names))
    figure, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.6), squeeze=False)
    if names and scored:
        for axis, name in zip(axes[0], names):
            _plot_against(axis, scored, name, objective.name, importance)
    elif scored:
        _plot_by_trial(axes[0][0], scored, objective.name)
    else:
        axes[0][0].text(0.5, 0.5, "no completed trials", ha="center", va="center")
        axes[0][0].set_axis_off()
    figure.suptitle(f"{objective.name} ({objective.direction}) over {len(scored)} completed trials")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
