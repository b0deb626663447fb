"""`models.config`: TF Serving's `ModelServerConfig` (model_config_list) in protobuf text format.

Built with the classes from `tensorflow-serving-api`, for several apps at once,
with version policies and labels:

    config = build_config([ModelEntry("digits", "/models/digits", "latest:2", {"stable": 1})])
    write_model_config("models/models.config", config)
"""

import dataclasses
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.model_manager import check_model_name


@dataclasses.dataclass
class ModelEntry:
    name: str
    base_path: str
    policy: str = "latest:1"  # "latest:N", "all" or "specific:V1,V2"
    labels: dict = dataclasses.field(default_factory=dict)


def apply_policy(policy_message, policy):
    """Fills a `ServableVersionPolicy` from "latest:N", "all" or "specific:1,2"."""
    kind, _, argument = policy.partition(":")
    kind = kind.strip().lower()
    if kind == "latest":
        count = int(argument or 1)
        if count < 1:
            raise ValueError("latest:N needs N >= 1")
        policy_message.latest.num_versions = count
    elif kind == "all":
        policy_message.all.SetInParent()
    elif kind == "specific":
        versions = [int(v) for v in argument.split(",") if v.strip()]
        if not versions:
            raise ValueError("specific: needs at least one version")
        policy_message.specific.versions.extend(versions)
    else:
        raise ValueError(f"Unknown version policy {policy!r}; use latest:N, all or specific:V,...")


def build_config(entries):
    config = model_server_config_pb2.ModelServerConfig()
    for entry in entries:
        check_model_name(entry.name)
        model = config.model_config_list.config.add()
        model.name = entry.name
        model.base_path = str(entry.base_path)
        model.model_platform = "tensorflow"
        apply_policy(model.model_version_policy, entry.policy)
        for label, version in entry.labels.items():
            model.version_labels[label] = int(version)
    return config


def config_for_apps(app_names, base_path, policy="latest:1", labels=None):
    """One entry per app, base paths `<base_path>/<app>` (`/models` inside the TF Serving image)."""
    labels = labels or {}
    return build_config(
        [
            ModelEntry(name, f"{str(base_path).rstrip('/')}/{check_model_name(name)}", policy, labels.get(name, {}))
            for name in app_names
        ]
    )


def write_model_config(path, config):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text_format.MessageToString(config))
    return path


def parse_model_config(text):
    return text_format.Parse(text, model_server_config_pb2.ModelServerConfig())


def read_model_config(path):
    """The `ModelServerConfig` in a text file; relative base paths are taken from the file's folder."""
    path = Path(path)
    config = parse_model_config(path.read_text())
    for model in config.model_config_list.config:
        if model.base_path and not Path(model.base_path).is_absolute():
            model.base_path = str((path.parent / model.base_path).resolve())
    return config


def read_monitoring_config(path):
    from serving.extra_protos import MonitoringConfig

    return text_format.Parse(Path(path).read_text(), MonitoringConfig())
