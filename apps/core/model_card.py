"""Model cards: what a run was trained on, how, how well, and what its export accepts.

`kapps <app> export` writes the card into the version's `assets.extra/model_card.md`
(beside `metrics.json`); `kapps <app> evaluate` prints the same card, less the
signatures, which exist once exported.
"""

import datetime


def training_record(data, seconds, devices="one device", best_epochs=()):
    """The facts of a training run the card reports: data source, split sizes, devices, seconds,
    and the epoch whose weights the run kept (`best_epochs`, `Run.best_records`: one record, one
    per ensemble member, or none when the objective was never measured)."""
    return {
        "devices": devices,
        "data_source": data.source,
        "train_examples": data.train_examples,
        "validation_examples": data.validation_examples,
        "test_examples": data.test_examples,
        "class_names": list(data.class_names),
        "train_seconds": round(float(seconds), 1),
        "finished": datetime.datetime.now().isoformat(timespec="seconds"),
        "best_epochs": list(best_epochs),
    }


def model_card(app, run, metrics, signatures=None, version=None):
    """The card as Markdown. `signatures` (from `serving.signatures.describe_signatures`) and `version` are
    given at export; `kapps evaluate` prints the card without them."""
    record, training = run.load_record(), run.load_training()
    title = f"# {app.title or app.name}" + (f" — version {version}" if version is not None else "")
    lines = [
        title,
        "",
        f"App `{app.name}` of kapps, run `{run.path.name}`, trained on the "
        f"{record.get('backend', '?')} backend (Keras {record.get('keras', '?')}).",
        "",
    ]
    lines += _data_section(training) + _training_section(app, training, record) + _metrics_section(app, metrics)
    if signatures:
        lines += _signatures_section(signatures)
    lines += ["## Known limits", ""] + [f"- {limit}" for limit in app.known_limits or ("None recorded.",)]
    return "\n".join(lines).rstrip() + "\n"


def _data_section(training):
    if not training:
        return ["## Data", "", "Not recorded (the run was trained before kapps kept a training record).", ""]
    lines = [
        "## Data",
        "",
        f"- Source: {training['data_source']}",
        f"- Examples: {training['train_examples']} train, {training['validation_examples']} validation, "
        f"{training['test_examples']} test",
    ]
    if training.get("class_names"):
        lines.append(f"- Classes: {', '.join(map(str, training['class_names']))}")
    return lines + [""]


def _training_section(app, training, record):
    lines = ["## Training", ""]
    if training:
        devices = f" on {training['devices']}" if "devices" in training else ""
        lines.append(f"- Time: {training['train_seconds']} s{devices}, finished {training['finished']}")
    if "best_epochs" in training:
        lines.append(f"- Weights: {_weights_line(app, training['best_epochs'])}")
    config = record.get("config", {})
    lines += [f"- Config: {', '.join(f'{key}={value}' for key, value in config.items())}", ""]
    return lines


def _weights_line(app, best_epochs):
    if not best_epochs:
        return f"the last epoch's ({app.objective} was never measured)"
    if len(best_epochs) == 1 and "member" not in best_epochs[0]:
        return f"those of {_best_epoch(best_epochs[0])}"
    return "each ensemble member's best epoch: " + "; ".join(
        f"{best['member']}, {_best_epoch(best)}" for best in best_epochs
    )


def _best_epoch(best):
    """`epoch 4 of 5, the best val_accuracy (0.9912)`."""
    of = f" of {best['last_epoch']}" if "last_epoch" in best else ""
    return f"epoch {best['epoch']}{of}, the best {best['monitor']} ({_number(float(best['value']))})"


def _metrics_section(app, metrics):
    scalars = {
        key: value for key, value in metrics.items() if isinstance(value, (int, float)) and not isinstance(value, bool)
    }
    split = metrics.get("split", "test")
    lines = [f"## Metrics ({split} split)", "", "| metric | value |", "| --- | --- |"]
    lines += [
        f"| {key}{' (export gate)' if key == app.gate_metric else ''} | {_number(value)} |"
        for key, value in scalars.items()
    ]
    return lines + [""]


def _number(value):
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _signatures_section(signatures):
    lines = ["## Serving signatures", ""]
    for name, described in signatures.items():
        lines.append(f"- `{name}`: inputs {'; '.join(described['inputs'])} → outputs {'; '.join(described['outputs'])}")
    return lines + [""]
