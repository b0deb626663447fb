"""The search report: a table of trials (text, CSV, JSON) and best_hyperparameters.json.

Records are plain dicts, built from Keras Tuner's oracle (the chief's, in
distributed mode) and the trial ledger:

    {"trial_id", "status", "hyperparameters": {name: value}, "objective": float|None,
     "seconds": float|None, "metrics": {name: float}, "tuner_id", "starts"}
"""

import csv
import json
import math

from tuner.ledger import runs_by_trial
from tuner.tuners import SECONDS_METRIC

# Hyperband's bookkeeping values; only the epochs a trial trained are worth showing.
HYPERBAND_SHOWN = ("tuner/epochs",)


def trial_sort_key(trial_id):
    return (0, int(trial_id), "") if str(trial_id).isdigit() else (1, 0, str(trial_id))


def _shown_values(values):
    return {name: value for name, value in values.items() if not name.startswith("tuner/") or name in HYPERBAND_SHOWN}


def _last_values(metrics):
    values = {}
    for name in metrics.metrics:
        value = metrics.get_last_value(name)
        if value is not None:
            values[name] = float(value)
    return values


def trial_records(oracle, ledger_records=()):
    """One record per trial the oracle knows, in trial-id order."""
    runs = runs_by_trial(ledger_records)
    records = []
    for trial_id in sorted(oracle.trials, key=trial_sort_key):
        trial = oracle.trials[trial_id]
        metrics = _last_values(trial.metrics)
        seconds = metrics.pop(SECONDS_METRIC, None)
        run = runs.get(trial_id, {})
        records.append(
            {
                "trial_id": trial_id,
                "status": str(trial.status),
                "hyperparameters": _shown_values(trial.hyperparameters.values),
                "objective": _finite_or_none(trial.score),
                "seconds": seconds,
                "metrics": metrics,
                "tuner_id": run.get("tuner_id"),
                "starts": run.get("starts", 0),
            }
        )
    return records


def _finite_or_none(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def completed(records):
    return [record for record in records if record["status"] == "COMPLETED" and record["objective"] is not None]


def best_record(records, direction):
    scored = completed(records)
    if not scored:
        return None
    pick = max if direction == "max" else min
    return pick(scored, key=lambda record: record["objective"])


def hyperparameter_names(records):
    names = []
    for record in records:
        for name in record["hyperparameters"]:
            if name not in names:
                names.append(name)
    return names


def table_rows(records, objective_name):
    """Header and rows: trial, status, one column per hyperparameter, objective, seconds."""
    names = hyperparameter_names(records)
    header = ["trial", "status", *names, objective_name, "seconds"]
    rows = [
        [
            record["trial_id"],
            record["status"],
            *(record["hyperparameters"].get(name, "") for name in names),
            record["objective"],
            record["seconds"],
        ]
        for record in records
    ]
    return header, rows


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_table(records, objective_name, best_trial_id=None):
    header, rows = table_rows(records, objective_name)
    cells = [header] + [[_cell(value) for value in row] for row in rows]
    widths = [max(len(row[column]) for row in cells) for column in range(len(header))]
    lines = []
    for index, row in enumerate(cells):
        mark = "*" if index and best_trial_id is not None and rows[index - 1][0] == best_trial_id else " "
        lines.append(mark + "  ".join(text.ljust(width) for text, width in zip(row, widths)).rstrip())
    if best_trial_id is not None:
        lines.append("(* best trial)")
    return "\n".join(lines)


def write_csv(records, objective_name, path):
    header, rows = table_rows(records, objective_name)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows([["" if value is None else value for value in row] for row in rows])
    return path


def write_json(records, summary, path):
    return write_json_file({**summary, "trials": records}, path)


def best_hyperparameters_record(app_name, objective, best, config):
    return {
        "app": app_name,
        "trial_id": best["trial_id"],
        "objective": {"name": objective.name, "direction": objective.direction, "value": best["objective"]},
        "hyperparameters": best["hyperparameters"],
        "config": config.to_dict() if config is not None else None,
    }


def write_json_file(record, path):
    with open(path, "w") as handle:
        json.dump(record, handle, indent=2, default=str)
        handle.write("\n")
    return path
