"""The steps every app goes through: train, evaluate, export, predict."""

import os
import subprocess
import sys
from pathlib import Path

from apps.core.runs import Run, find_latest_run

DEFAULT_MODEL_BASE_PATH = "models"


def _keras():
    import keras

    return keras


def train(app, config, run_dir=None, verbose=True):
    """Trains, saves `model.keras`, evaluates; resumes a killed run in the same folder."""
    keras = _keras()
    keras.utils.set_random_seed(config.seed)
    run = Run(app.name, run_dir)
    run.save_config(config, keras.backend.backend())
    if verbose:
        print(f"Run folder: {run.path}\n{config.describe()}", flush=True)
    data = app.load_data(config)
    model = app.build_model(config, data)
    app.train(model, data, config, run)
    model.save(run.model_path)
    metrics = evaluate_model(app, model, data, config, run)
    return run, metrics


def evaluate_model(app, model, data, config, run):
    metrics = app.evaluate(model, data, config, run)
    metrics = {"app": app.name, "backend": _keras().backend.backend(), **metrics}
    run.save_metrics(metrics)
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
    data = app.load_data(config)
    return run, evaluate_model(app, model, data, config, run)


def export(app, run_dir=None, model_base_path=DEFAULT_MODEL_BASE_PATH, version=None):
    """Exports the run's model; on JAX/PyTorch, re-runs itself on TensorFlow in a subprocess."""
    keras = _keras()
    if keras.backend.backend() != "tensorflow":
        return _export_in_tensorflow_process(app, run_dir, model_base_path, version)
    from serving.export import export_model

    run, config, model = load_trained(app, run_dir)
    return export_model(app, model, config, model_base_path, version)


def _export_in_tensorflow_process(app, run_dir, model_base_path, version):
    run = resolve_run(app, run_dir)
    command = [sys.executable, "-m", "apps", "--backend", "tensorflow", app.name, "export",
               "--run-dir", str(run.path), "--model-base-path", str(model_base_path)]
    if version:
        command += ["--version", str(version)]
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run(command, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"Export on the TensorFlow backend failed:\n{result.stderr[-3000:]}")
    exported = [line for line in result.stdout.splitlines() if line.startswith("Exported ")]
    return Path(exported[-1].split(" to ", 1)[1].strip())


def latest_export(app, model_base_path=DEFAULT_MODEL_BASE_PATH):
    from serving.export import existing_versions

    model_dir = Path(model_base_path) / app.name
    versions = existing_versions(model_dir)
    if not versions:
        raise FileNotFoundError(
            f"No exported {app.name} model under {model_dir}. Run `kapps {app.name} export` first."
        )
    return model_dir / str(versions[-1])


def predict_local(app, items, model_base_path=DEFAULT_MODEL_BASE_PATH):
    """Answers app-native inputs from the newest exported SavedModel, in process."""
    import tensorflow as tf

    request = app.request_from_cli(items)
    loaded = tf.saved_model.load(str(latest_export(app, model_base_path)))
    signature = loaded.signatures[request.signature_name]
    outputs = signature(**{name: tf.constant(value) for name, value in request.inputs.items()})
    outputs = {name: tensor.numpy() for name, tensor in outputs.items()}
    return app.format_response(outputs, items)
