"""The files that run the official TF Serving image parse with TF Serving's protos."""

from pathlib import Path

import pytest
import yaml
from google.protobuf import text_format

from serving.batching import read_batching_parameters
from serving.deployment import DEPLOY_DIR
from serving.deployment import main as deployment_main
from serving.model_config import (
    ModelEntry,
    build_config,
    config_for_apps,
    parse_model_config,
    read_model_config,
    read_monitoring_config,
    write_model_config,
)
from serving.server import build_parser


def flags_of(args):
    return [arg.split("=", 1)[0] for arg in args if arg.startswith("--")]


def test_static_config_files_parse():
    options = read_batching_parameters(DEPLOY_DIR / "batching_parameters.txt")
    assert options.max_batch_size == 32 and options.num_batch_threads == 4
    monitoring = read_monitoring_config(DEPLOY_DIR / "monitoring.config")
    assert monitoring.prometheus_config.enable
    assert monitoring.prometheus_config.path == "/monitoring/prometheus/metrics"
    config = parse_model_config((DEPLOY_DIR / "models.config").read_text())
    assert config.model_config_list.config[0].base_path == "/models/digits"


def test_compose_and_kubernetes_use_tf_serving_flags():
    known = {action.option_strings[0] for action in build_parser()._actions if action.option_strings}
    compose = yaml.safe_load((DEPLOY_DIR / "docker-compose.yml").read_text())
    service = compose["services"]["tf-serving"]
    assert "tensorflow/serving" in service["image"]
    assert set(flags_of(service["command"])) <= known
    assert all(port.startswith("127.0.0.1:") for port in service["ports"])
    documents = {}
    for path in sorted((DEPLOY_DIR / "k8s").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            documents[document["kind"]] = document
    assert set(documents) == {"Deployment", "Service", "HorizontalPodAutoscaler"}
    container = documents["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith("tensorflow/serving")
    assert set(flags_of(container["args"])) <= known
    assert {p["port"] for p in documents["Service"]["spec"]["ports"]} == {8500, 8501}
    assert (
        documents["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"]
        == documents["Deployment"]["metadata"]["name"]
    )
    kustomization = yaml.safe_load((DEPLOY_DIR / "kustomization.yaml").read_text())
    for name in kustomization["configMapGenerator"][0]["files"]:
        assert (DEPLOY_DIR / name).exists()


def test_model_config_writer_round_trip(tmp_path):
    config = build_config(
        [
            ModelEntry("digits", "/models/digits", "latest:2", {"stable": 1, "canary": 2}),
            ModelEntry("churn", "/models/churn", "all"),
            ModelEntry("text", "/models/text", "specific:3,4"),
        ]
    )
    path = write_model_config(tmp_path / "models.config", config)
    back = read_model_config(path)
    assert back == config
    models = {m.name: m for m in back.model_config_list.config}
    assert models["digits"].model_version_policy.latest.num_versions == 2
    assert dict(models["digits"].version_labels) == {"stable": 1, "canary": 2}
    assert models["churn"].model_version_policy.WhichOneof("policy_choice") == "all"
    assert list(models["text"].model_version_policy.specific.versions) == [3, 4]
    assert "model_config_list" in text_format.MessageToString(back)


@pytest.mark.parametrize("name", ["../etc", "a/b", "", ".."])
def test_model_names_cannot_leave_the_base_path(name):
    with pytest.raises(Exception, match="Invalid model name"):
        config_for_apps([name], "/models")


def test_deployment_cli(tmp_path, capsys):
    for app in ("digits", "churn"):
        (tmp_path / app / "1").mkdir(parents=True)
    assert (
        deployment_main(["--model-base-path", str(tmp_path), "--policy", "latest:2", "--label", "digits:stable=1"]) == 0
    )
    container = read_model_config(tmp_path / "models.config")
    assert [m.base_path for m in container.model_config_list.config] == ["/models/churn", "/models/digits"]
    local = read_model_config(tmp_path / "models.local.config")
    assert Path(local.model_config_list.config[1].base_path) == (tmp_path / "digits").resolve()
