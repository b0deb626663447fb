"""`--data-service`: an app trains with its training input produced by tf.data service workers
(a dispatcher and two workers on loopback, in process), seeing every example once per epoch
and ending where training without the service ends; `kapps data-service` starts the servers."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import keras
import pytest

from apps import cli
from apps.core import workflow
from apps.core.config import ConfigError
from apps.core.data_service import start_dispatcher, start_worker
from tests.apps.core.streaming_app import StreamingApp, write_png_folder

FULL_BATCH_EPOCHS = 6


@pytest.fixture(scope="module")
def service():
    dispatcher = start_dispatcher()
    workers = [start_worker(dispatcher.target) for _ in range(2)]
    yield dispatcher.target
    for server in (*workers, dispatcher):
        server.stop()


@pytest.fixture(scope="module")
def app_and_config(tmp_path_factory):
    app = StreamingApp()
    folder = write_png_folder(tmp_path_factory.mktemp("pngs"))
    return app, app.default_config().replace(data=f"files:{folder}")


def _epoch(dataset):
    """The examples of one pass, as sorted (class, rounded pixel sum) pairs: order-free."""
    return sorted(
        (int(label.argmax()), round(float(image.sum()), 3))
        for images, labels in dataset.as_numpy_iterator()
        for image, label in zip(images, labels)
    )


def test_every_training_example_comes_once_per_epoch_from_the_workers(service, app_and_config):
    app, config = app_and_config
    local = app.load_data(config)
    served = app.load_data(config.replace(data_service=service))
    assert b"DataServiceDataset" in served.train._as_serialized_graph().numpy()
    assert b"DataServiceDataset" not in served.validation._as_serialized_graph().numpy()
    expected = _epoch(local.train)
    assert len(expected) == local.train_examples == 27
    for _ in range(2):
        assert _epoch(served.train) == expected


def test_a_fixed_model_has_the_same_summed_loss_on_served_and_local_batches(service, app_and_config):
    app, config = app_and_config
    keras.utils.set_random_seed(0)
    model = app.build_model(config, None)
    loss = keras.losses.CategoricalCrossentropy(reduction="sum")

    def summed_loss(dataset):
        return sum(float(loss(labels, model(images))) for images, labels in dataset.as_numpy_iterator())

    local = summed_loss(app.load_data(config).train)
    assert summed_loss(app.load_data(config.replace(data_service=service)).train) == pytest.approx(local, rel=1e-5)


def _trained_loss(app, config):
    """The test loss after `App.train` on `App.load_data(config)`, from the seed's initial weights."""
    keras.utils.set_random_seed(config.seed)
    data = app.load_data(config)
    model = app.make_model(config, data)
    if config.epochs:
        app.train(model, data, config)
    return app.evaluate(model, data, config, None)["loss"]


def test_full_batch_training_through_the_service_ends_with_the_losses_of_local_training(service, app_and_config):
    """With one batch of the whole training split per step, the order in which the workers
    deliver examples cannot change an update: both trainings must end with the same loss."""
    app, config = app_and_config
    config = config.replace(batch_size=32, epochs=FULL_BATCH_EPOCHS)
    untrained = _trained_loss(app, config.replace(epochs=0))
    local = _trained_loss(app, config)
    served = _trained_loss(app, config.replace(data_service=service))
    assert local < 0.9 * untrained  # the weights moved: the equality below means something
    assert served == pytest.approx(local, rel=1e-4)


def test_a_run_trained_through_the_service_is_evaluated_without_it(service, app_and_config, tmp_path):
    app, config = app_and_config
    run, metrics = workflow.train(app, config.replace(data_service=service), tmp_path / "served", verbose=False)
    gone = {"data_service": f"grpc://localhost:{_closed_port()}"}  # evaluation reads no training batches
    assert workflow.evaluate(app, run.path, gone)[1]["loss"] == pytest.approx(metrics["loss"], rel=1e-4)


def _closed_port():
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def test_bad_unreachable_or_unusable_services_are_clear_errors(app_and_config):
    app, config = app_and_config
    with pytest.raises(ConfigError, match="must be grpc://HOST:PORT"):
        config.replace(data_service="localhost:5050").validate()
    with pytest.raises(ConfigError, match="drop one of them"):
        config.replace(data_service="grpc://localhost:5050", distribute="multi-worker").validate()
    port = _closed_port()
    with pytest.raises(ConfigError, match=f"no tf.data dispatcher answers there.*--port {port}"):
        app.load_data(config.replace(data_service=f"grpc://localhost:{port}"))
    from apps.churn.app import ChurnApp

    churn = ChurnApp()
    with pytest.raises(ConfigError, match="--data-service: the churn app trains from its in-memory table"):
        churn.tiny_config().replace(data_service="grpc://localhost:5050").validate()


def _interrupt_once_serving():
    """Sends this process SIGINT (Ctrl-C) once `serve_until_interrupted` has installed its handler."""
    default = signal.getsignal(signal.SIGINT)

    def wait_then_interrupt():
        while signal.getsignal(signal.SIGINT) is default:
            time.sleep(0.05)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=wait_then_interrupt, daemon=True).start()


@pytest.fixture
def own_dispatcher():
    """A dispatcher of its own: a worker that registers and stops leaves no trace in `service`."""
    dispatcher = start_dispatcher()
    yield dispatcher.target
    dispatcher.stop()


@pytest.mark.parametrize("role", ["dispatcher", "worker"])
def test_each_command_says_where_it_listens_and_stops_on_ctrl_c(role, own_dispatcher, capsys):
    service = own_dispatcher
    arguments = ["--port", "0"] + (["--dispatcher", service.removeprefix("grpc://")] if role == "worker" else [])
    _interrupt_once_serving()
    assert cli.main(["data-service", role, *arguments]) == 0
    line, stopped = capsys.readouterr().out.splitlines()
    address = r"grpc://localhost:\d+"
    expected = (
        rf"tf.data dispatcher listening on {address} \(trainers: --data-service {address}\)"
        if role == "dispatcher"
        else rf"tf.data worker listening on port \d+, serving {service[7:]}"
    )
    assert re.fullmatch(expected, line) and stopped == "Stopped."


def _start(*arguments):
    process = subprocess.Popen(
        [sys.executable, "-m", "kapps", "data-service", *arguments],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    return process, process.stdout.readline().strip()


@pytest.mark.slow
def test_the_commands_run_as_processes_that_stop_on_ctrl_c():
    dispatcher, line = _start("dispatcher", "--port", "0")
    try:
        assert line.startswith("tf.data dispatcher listening on grpc://localhost:"), line
        target = line.split()[4]
        worker, worker_line = _start("worker", "--dispatcher", target.removeprefix("grpc://"), "--port", "0")
        try:
            assert worker_line.startswith("tf.data worker listening on port ") and target[7:] in worker_line
        finally:
            worker.send_signal(signal.SIGINT)
            assert worker.wait(timeout=60) == 0 and worker.stdout.read().strip() == "Stopped."
    finally:
        dispatcher.send_signal(signal.SIGINT)
        assert dispatcher.wait(timeout=60) == 0 and dispatcher.stdout.read().strip() == "Stopped."
