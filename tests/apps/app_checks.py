"""The checks every registered app must pass (the idea of keras-hub's `run_task_test`).

`tests/apps/test_every_app.py` runs them for each name in the registry, on the app's
builtin data with its `tiny_config()`: a new app is tested the moment it is
registered, and fails CI until it passes. Every step goes through the App hooks
the CLI uses (`apps.core.workflow`), so a check here is a check of `kapps`.
"""

import dataclasses
import json
import urllib.request

import numpy as np
import pytest

from apps.core.config import ConfigError


class TrainSpy:
    """Counts the calls of an app's `train` hook (the one training path)."""

    def __init__(self, monkeypatch, app):
        self.calls = []
        hook = type(app).train

        def spy(app_self, model, data, config, run=None, callbacks=(), initial_epoch=0):
            import keras

            result = hook(app_self, model, data, config, run, callbacks, initial_epoch)
            assert isinstance(result, keras.callbacks.History), f"App.train returned {type(result).__name__}"
            self.calls.append(
                {"config": config, "run": run, "logged": set(result.history), "model": model, "data": data}
            )
            return result

        monkeypatch.setattr(type(app), "train", spy)


def check_contract(app):
    """The class-level promises: a registry name, a tiny config that validates, an objective."""
    config = app.tiny_config()
    assert isinstance(config, app.config_class)
    assert config.data == "builtin", "tiny_config must train on the offline builtin data"
    config.validate()
    if not app.field_metric_names:  # their flags are refused, not ignored
        assert {"field_metrics_every", "field_metrics_examples"} <= set(app.config_class.UNSUPPORTED_FIELDS)
    assert app.objective.startswith("val_") or app.objective == "loss"
    assert app.objective_direction in ("min", "max")


# The engine that trains the shared test's model on the test process's two devices
# (tests/conftest.py); PyTorch trains on one.
DISTRIBUTED_ENGINE = {"tensorflow": "mirrored", "jax": "data-parallel"}


def train_tiny(app, run_dir):
    """Trains the tiny config through `workflow.train`, on two replicas where the backend
    has an engine (`--distribute`); returns (run, metrics). Tests read this run through
    `tests.apps.tiny_runs`, which trains it once per session."""
    import keras

    from apps.core import workflow

    config = app.tiny_config()
    engine = DISTRIBUTED_ENGINE.get(keras.backend.backend())
    if "distribute" in app.config_class.UNSUPPORTED_FIELDS:
        with pytest.raises(ConfigError, match="^--distribute: "):  # says why, before any work
            workflow.train(app, config.replace(distribute=engine, replicas=2), run_dir, verbose=False)
        engine = None
    if engine:
        config = config.replace(distribute=engine, replicas=2)
    with pytest.MonkeyPatch.context() as monkeypatch:
        spy = TrainSpy(monkeypatch, app)
        run, metrics = workflow.train(app, config, run_dir, verbose=False)
    assert run.load_training()["devices"] == (f"{engine}, 2 replicas" if engine else "one device")
    assert len(spy.calls) == 1 and spy.calls[0]["run"] is not None
    assert run.model_path.exists() and run.metrics_path.exists()
    assert metrics["app"] == app.name
    logged = spy.calls[0]["logged"]
    assert app.objective in logged, f"App.train did not report its objective {app.objective!r}: {sorted(logged)}"
    assert {f"val_{name}" for name in app.field_metric_names} <= logged
    return run, metrics


@dataclasses.dataclass
class Events:
    """The summaries of one TensorBoard run folder, as TensorBoard's loader reads them."""

    accumulator: object

    def plugin_tags(self, plugin):
        """The tags whose summaries belong to `plugin` ("images", "scalars", "pr_curves"...)."""
        return {
            tag
            for tag in self.accumulator.Tags()["tensors"]
            if self.accumulator.SummaryMetadata(tag).plugin_data.plugin_name == plugin
        }


def read_events(folder):
    """`Events` of every event file in `folder` (not its sub-folders), every value kept."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(folder), size_guidance={"tensors": 0})
    accumulator.Reload()
    return Events(accumulator)


def check_tensorboard(app, run, metrics):
    """The evaluation's figures (each PNG plot), its metrics (the export gate's among them) and,
    for a binary classifier (ROC-AUC), its PR curve are in `logs/evaluation`; the run's config
    is an HParams session in `logs`."""
    from pathlib import Path

    from apps.core.tensorboard import EVALUATION_FOLDER

    events = read_events(run.log_dir / EVALUATION_FOLDER)
    figures = {Path(path).stem for path in metrics["plots"] if str(path).endswith(".png")}
    assert figures and figures <= events.plugin_tags("images"), (figures, events.plugin_tags("images"))
    assert f"{metrics['split']}/{app.gate_metric}" in events.plugin_tags("scalars")
    if "roc_auc" in metrics:
        assert events.plugin_tags("pr_curves") == {"pr_curve/pr_curves"}
    assert "_hparams_/session_start_info" in read_events(run.log_dir).plugin_tags("hparams")


def scalar_metrics(metrics):
    return {
        key: value for key, value in metrics.items() if isinstance(value, (int, float)) and not isinstance(value, bool)
    }


def check_reload_and_evaluate(app, run, trained_metrics):
    """`workflow.evaluate` reloads the saved `.keras` file (of `run`, which it writes into);
    its metrics must be the ones the trained model scored before saving, and the decode step
    must answer on the reloaded model."""
    import keras

    from apps.core import workflow

    _, metrics = workflow.evaluate(app, run.path)
    trained, reloaded = scalar_metrics(trained_metrics), scalar_metrics(metrics)
    assert trained and set(trained) == set(reloaded)
    for key, value in trained.items():
        assert np.isclose(reloaded[key], value, rtol=1e-4, atol=1e-6), f"{key}: {reloaded[key]} != {value}"
    card = workflow.card(app, run.path)
    assert "## Data" in card and f"| {app.gate_metric} (export gate) |" in card, card
    model = keras.saving.load_model(run.model_path)
    data = app.load_data(run.load_config(app.config_class))
    assert data.source in card
    for split in (data.train, data.validation, data.test):  # `apps.core.data.prefetched` says why
        assert split is None or split.options().autotune.enabled is False
    _, dataset = data.evaluation_split()
    batch = next(iter(dataset))
    decoded = app.decode_predictions(model(batch[0], training=False), model)
    assert isinstance(decoded, dict) and decoded
    for value in decoded.values():
        assert (
            keras.ops.shape(value)[0]
            == keras.ops.shape(keras.ops.convert_to_tensor(next(iter(keras.tree.flatten(batch[1])))))[0]
        )
    return metrics


def check_app_descriptor(app, export_dir, signatures):
    """`assets.extra/kapps_app.json` names the app's page and a signature the export has, whose
    inputs include the ones the page fills (`serving/ui/page-<app>.js`)."""
    descriptor = json.loads((export_dir / "assets.extra" / "kapps_app.json").read_text())
    assert descriptor["app"] == descriptor["page"] == app.name
    signature = signatures[descriptor["signature"]]
    inputs = set(signature.structured_input_signature[1])
    for key in ("image_input", "text_input"):
        assert key not in descriptor or descriptor[key] in inputs, (key, descriptor[key], inputs)
    assert all(column["name"] in inputs for column in descriptor.get("columns", [])), inputs


def check_export(app, run, export_dir):
    """The run's export (`workflow.export`) holds its documents and answers every sample
    request; returns the answers."""
    import tensorflow as tf

    assert (export_dir / "saved_model.pb").exists()
    assert (export_dir / "assets.extra" / "tf_serving_warmup_requests").exists()
    stored = json.loads((export_dir / "assets.extra" / "metrics.json").read_text())
    assert app.gate_metric in stored, f"the export gate's metric {app.gate_metric!r} is not in {sorted(stored)}"
    card = (export_dir / "assets.extra" / "model_card.md").read_text()
    loaded = tf.saved_model.load(str(export_dir))
    config = run.load_config(app.config_class)
    assert all(f"`{name}`: inputs" in card for name in loaded.signatures), card
    assert "- Weights: " in card and app.objective in card, card  # the epoch the exported weights come from
    check_app_descriptor(app, export_dir, loaded.signatures)
    answers = []
    for request in app.sample_requests(config):
        signature = loaded.signatures[request.signature_name]
        outputs = signature(**{name: tf.constant(value) for name, value in request.inputs.items()})
        outputs = {name: tensor.numpy() for name, tensor in outputs.items()}
        count = len(next(iter(request.inputs.values())))
        for name, value in outputs.items():
            assert value.shape[:1] == (count,), f"{request.signature_name}:{name} has shape {value.shape}"
            if value.dtype.kind == "f":
                assert np.all(np.isfinite(value)), f"{request.signature_name}:{name} is not finite"
        answers.append((request, outputs))
    return answers


def assert_same_outputs(expected, actual, where):
    assert set(actual) == set(expected), f"{where}: outputs {sorted(actual)} != {sorted(expected)}"
    for name, value in expected.items():
        got = np.asarray(actual[name])
        if value.dtype.kind in "SOU":
            assert got.reshape(-1).tolist() == value.reshape(-1).tolist(), f"{where}:{name}"
        else:
            np.testing.assert_allclose(
                got.astype(np.float64), value.astype(np.float64), rtol=1e-4, atol=1e-5, err_msg=f"{where}:{name}"
            )


def check_served(app, model_base_path, answers):
    """`kapps serve`'s server answers every sample request over REST (columnar and row
    formats) and gRPC exactly as the SavedModel did in process."""
    from serving import json_codec
    from serving.client import connect
    from serving.model_config import ModelEntry
    from tests.serving.serving_helpers import start_server

    server = start_server([ModelEntry(app.name, str(model_base_path / app.name))])
    try:
        for scheme, port in (("http", server.rest_api_port), ("grpc", server.grpc_port)):
            client = connect(f"{scheme}://127.0.0.1:{port}")
            try:
                for request, expected in answers:
                    outputs = client.predict(app.name, request.inputs, request.signature_name)
                    assert_same_outputs(expected, outputs, f"{scheme} {request.signature_name}")
            finally:
                client.close()
        for request, _ in answers:
            body = json_codec.dumps(request.as_rest_instances())
            url = f"http://127.0.0.1:{server.rest_api_port}/v1/models/{app.name}:predict"
            with urllib.request.urlopen(urllib.request.Request(url, body), timeout=60) as response:
                assert response.status == 200
                assert len(json.loads(response.read())["predictions"]) == len(next(iter(request.inputs.values())))
    finally:
        server.stop()


def check_tune(app, tune_dir, monkeypatch):
    """A one-trial random search in mixed precision whose trial trains through `App.train`
    and reports the app's objective (searches of several trials, resumed and distributed,
    are tested on one app in `tests/tuner/`); the trained model computes in 16 bits, yet
    its decode step answers float32."""
    from tuner.search import run_search
    from tuner.settings import TuneSettings

    spy = TrainSpy(monkeypatch, app)
    settings = TuneSettings(tuner="random", max_trials=1, max_epochs=1, tune_dir=str(tune_dir), verbose=0)
    result = run_search(app, app.tiny_config().replace(mixed_precision=True), settings)
    trials = [call for call in spy.calls if call["run"] is None]
    assert len(trials) == 1, (spy.calls, result.table)  # no probe: the objective is the app's own
    assert [record["status"] for record in result.records] == ["COMPLETED"], result.table
    objective = result.best and result.best["objective"]
    assert objective is not None and np.isfinite(objective), result.table
    assert result.best_config is not None and dataclasses.is_dataclass(result.best_config)
    assert result.best_config.mixed_precision
    check_answers_in_float32(app, trials[0]["model"], trials[0]["data"])
    return result


def check_answers_in_float32(app, model, data):
    """`--mixed-precision`: computations in 16 bits, yet what the decode step returns stays float32."""
    import keras

    assert model.dtype_policy.name in ("mixed_bfloat16", "mixed_float16"), model.dtype_policy.name
    batch = next(iter(data.train))
    inputs = batch[0] if isinstance(batch, tuple) else batch
    outputs = app.decode_predictions(model(inputs, training=False), model)
    low = {
        name: keras.backend.standardize_dtype(value.dtype)
        for name, value in outputs.items()
        if keras.backend.standardize_dtype(value.dtype) in ("bfloat16", "float16")
    }
    assert not low, f"16-bit outputs reach the decode step: {low}"
