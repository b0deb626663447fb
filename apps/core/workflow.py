"""The steps every app goes through: train, evaluate, export, predict."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from apps.core.cli_inputs import output_stem
from apps.core.config import ConfigError
from apps.core.distribute import start_distribution
from apps.core.errors import InputError
from apps.core.export_gate import DEFAULT_TOLERANCE, check_candidate
from apps.core.model_card import model_card, training_record
from apps.core.runs import Run, find_latest_run

DEFAULT_MODEL_BASE_PATH = "models"
# What `kapps serve`'s pages read to pick a model's page (`App.app_descriptor`, `serving/ui.py`).
APP_DESCRIPTOR_ASSET = "kapps_app.json"


def _keras():
    import keras

    return keras


def train(app, config, run_dir=None, verbose=True):
    """Trains through `App.train` (on the devices or machines of `--distribute`), saves
    `model.keras` (the weights of the best epoch on the app's objective, `BestWeights`, recorded
    in the training record), evaluates; resumes a killed run in the same folder. Every driver (CLI,
    tuner retraining, benchmarks, notebooks) trains here."""
    config.validate()
    keras = _keras()
    distribution = start_distribution(config)  # before the backend runs anything
    if distribution.kind == "multi-worker" and run_dir is None:
        raise ConfigError(
            "--distribute multi-worker needs --run-dir: every worker names the same run folder "
            "(the chief writes it; worker N writes <run-dir>/worker-N)."
        )
    keras.utils.set_random_seed(config.seed)
    if verbose:
        print(f"{config.describe()}\nTraining on {distribution.describe()}", flush=True)
    data = app.load_data(config)
    run = Run(app.name, distribution.run_dir(run_dir))  # once the data loaded: a failed load leaves no folder
    run.save_config(config, keras.backend.backend())
    if verbose:
        print(f"Run folder: {run.path}", flush=True)
    with distribution.scope():
        model = app.make_model(config, data)
        started = time.perf_counter()
        app.train(model, distribution.split_evenly(data), config, run=run)
        run.save_training(
            training_record(data, time.perf_counter() - started, distribution.describe(), run.best_records())
        )
        model.save(run.model_path)
    if distribution.kind != "none":  # the test split in full, on one device
        model = keras.saving.load_model(run.model_path)
    metrics = evaluate_model(app, model, data, config, run)
    return run, metrics


def evaluate_model(app, model, data, config, run):
    from apps.core.tensorboard import write_evaluation

    metrics = app.evaluate(model, data, config, run)
    metrics = {"app": app.name, "backend": _keras().backend.backend(), **metrics}
    run.save_metrics(metrics)
    write_evaluation(run, config, metrics)
    return metrics


def resolve_run(app, run_dir=None):
    return Run(app.name, run_dir) if run_dir else Run(app.name, find_latest_run(app.name))


def load_trained(app, run_dir=None, overrides=None):
    """The run, its config (with `overrides`) and its saved model."""
    run = resolve_run(app, run_dir)
    if not run.model_path.exists():
        raise FileNotFoundError(f"{run.model_path} not found: train first (`kapps {app.name} train`).")
    config = run.load_config(app.config_class)
    if overrides:
        config = config.replace(**overrides)
    model = _keras().saving.load_model(run.model_path)
    return run, config, model


def evaluate(app, run_dir=None, overrides=None):
    run, config, model = load_trained(app, run_dir, overrides)
    data = app.load_data(config.replace(data_service=""))  # evaluation reads no training batches
    return run, evaluate_model(app, model, data, config, run)


def card(app, run_dir=None):
    """The run's model card (`apps.core.model_card`) without serving signatures."""
    run = resolve_run(app, run_dir)
    return model_card(app, run, run.load_metrics())


def export(
    app,
    run_dir=None,
    model_base_path=DEFAULT_MODEL_BASE_PATH,
    version=None,
    gate_tolerance=DEFAULT_TOLERANCE,
    force=False,
    log=print,
):
    """Exports the run's model with its metrics and model card in `assets.extra/`, unless the
    export gate (`apps.core.export_gate`) finds it worse than the newest exported version. On
    JAX/PyTorch, re-runs itself on TensorFlow in a subprocess."""
    keras = _keras()
    if keras.backend.backend() != "tensorflow":
        return _export_in_tensorflow_process(app, run_dir, model_base_path, version, gate_tolerance, force, log)
    from apps.core.export_gate import METRICS_ASSET

    run, config, model = load_trained(app, run_dir)
    metrics = run.load_metrics()
    verdict = check_candidate(app, metrics, Path(model_base_path) / app.name, gate_tolerance, force)
    if verdict:
        log(verdict)

    descriptor = app.app_descriptor(model, config, run.load_training())

    def documents(signatures, version_number):
        return {
            METRICS_ASSET: json.dumps(metrics, indent=2, default=float) + "\n",
            "model_card.md": model_card(app, run, metrics, signatures, version_number),
            APP_DESCRIPTOR_ASSET: json.dumps(descriptor, indent=2) + "\n",
        }

    return export_app_model(app, model, config, model_base_path, version, documents)


def export_app_model(app, model, config, model_base_path=DEFAULT_MODEL_BASE_PATH, version=None, documents=None):
    """Exports `model` (`serving.export.export_model`) with the parts the app gives: its serving
    signatures, its sample requests (the warm-up file) and its request rules; `documents(signatures,
    version)`, when given, returns `{file name: text}` for `assets.extra/`, `signatures` described by
    `serving.signatures.describe_signatures`. Returns the version folder."""
    from serving.export import check_version, export_model
    from serving.signatures import describe_signatures

    model_dir = Path(model_base_path) / app.name
    signatures = app.serving_signatures(model, config)
    version = check_version(model_dir, version)
    extra_assets = documents(describe_signatures(signatures), version) if documents else None
    return export_model(
        model,
        signatures,
        model_dir,
        version,
        warmup_requests=app.sample_requests(config),
        request_rules=app.serving_rules(config),
        extra_assets=extra_assets,
    )


def _export_in_tensorflow_process(app, run_dir, model_base_path, version, gate_tolerance, force, log):
    run = resolve_run(app, run_dir)
    command = [
        sys.executable,
        "-m",
        "apps.cli",
        "--backend",
        "tensorflow",
        app.name,
        "export",
        "--run-dir",
        str(run.path),
        "--model-base-path",
        str(model_base_path),
        "--gate-tolerance",
        str(gate_tolerance),
    ]
    if version:
        command += ["--version", str(version)]
    if force:
        command.append("--force")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        if "Export refused:" in result.stderr:
            from apps.core.export_gate import ExportRefused

            raise ExportRefused(result.stderr[result.stderr.index("Export refused:") :].strip())
        raise RuntimeError(f"Export on the TensorFlow backend failed:\n{result.stderr[-3000:]}")
    for line in result.stdout.splitlines():
        if line.startswith("Export gate"):
            log(line)
    exported = [line for line in result.stdout.splitlines() if line.startswith("Exported ")]
    return Path(exported[-1].split(" to ", 1)[1].strip())


def latest_export(app, model_base_path=DEFAULT_MODEL_BASE_PATH):
    from serving.export import existing_versions

    model_dir = Path(model_base_path) / app.name
    versions = existing_versions(model_dir)
    if not versions:
        raise FileNotFoundError(f"No exported {app.name} model under {model_dir}. Run `kapps {app.name} export` first.")
    return model_dir / str(versions[-1])


def local_outputs(app, request, model_base_path=DEFAULT_MODEL_BASE_PATH):
    """The outputs of the newest exported SavedModel for `request`, in process."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(latest_export(app, model_base_path)))
    signature = loaded.signatures[request.signature_name]
    try:
        outputs = signature(**{name: tf.constant(value) for name, value in request.inputs.items()})
    except tf.errors.InvalidArgumentError as error:
        from serving.errors import clean_tf_message

        raise InputError(clean_tf_message(error.message)) from None
    return {name: tensor.numpy() for name, tensor in outputs.items()}


def predict(app, items, model_base_path=DEFAULT_MODEL_BASE_PATH, server=None, output_dir="predictions"):
    """Answers app-native inputs (files, texts, rows) from the newest export in process, or
    from the server at `server`. In process, an answer without `class_names` gets those of the
    export's `assets.extra/kapps_app.json`. Binary outputs (names ending in `_bytes`: PNG masks,
    generated images) are written into `output_dir`, then the app's `answer_files` (one of the
    same name replaces it); the text says where."""
    request = app.request_from_cli(items)
    if server:
        from serving.client import server_outputs

        outputs = server_outputs(app.name, request, server)
    else:
        outputs = local_outputs(app, request, model_base_path)
        outputs = {"class_names": exported_class_names(app, model_base_path), **outputs}
    text = app.format_response(outputs, items)
    written = write_binary_outputs(outputs, items, output_dir)
    for name, content in app.answer_files(outputs, items).items():
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        (Path(output_dir) / name).write_bytes(content)
        if Path(output_dir) / name not in written:
            written.append(Path(output_dir) / name)
    return "\n".join([text, *(f"Wrote {path}" for path in written)]) if written else text


def exported_class_names(app, model_base_path=DEFAULT_MODEL_BASE_PATH):
    """The class names the newest export's `kapps_app.json` lists (none without one)."""
    try:
        descriptor = latest_export(app, model_base_path) / "assets.extra" / APP_DESCRIPTOR_ASSET
    except FileNotFoundError:
        return []
    return json.loads(descriptor.read_text()).get("class_names", []) if descriptor.exists() else []


def write_binary_outputs(outputs, items, output_dir):
    """Writes each `*_bytes` output of each item to `<output_dir>/<item>.<output>.<ext>`, the
    output named without `_bytes` nor a format word (`mask_png_bytes` of `pet.jpg` → `pet.mask.png`)."""
    paths = []
    for name, values in outputs.items():
        if not name.endswith("_bytes"):
            continue
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        label = _output_label(name)
        for index, value in enumerate(_flat_bytes(values)):
            stem = output_stem(items[index] if index < len(items) else f"item{index}", index)
            path = Path(output_dir) / f"{stem}.{label}{_extension(value)}"
            path.write_bytes(value)
            paths.append(path)
    return paths


def _output_label(name):
    label = name[: -len("_bytes")]
    for word in ("_png", "_jpeg", "_jpg", "_gif", "_bmp"):
        label = label.removesuffix(word)
    return label


def _flat_bytes(values):
    import numpy as np

    return [value if isinstance(value, bytes) else bytes(value) for value in np.asarray(values, dtype=object).ravel()]


def _extension(value):
    signatures = {b"\x89PNG": ".png", b"\xff\xd8": ".jpg", b"GIF8": ".gif", b"BM": ".bmp"}
    return next((extension for magic, extension in signatures.items() if value.startswith(magic)), ".bin")
