"""deploy/training/: the manifests run `kapps <app> train --distribute multi-worker` with a
TF_CONFIG that names every worker, restart failed workers, and share one run folder."""

import json
import re
import shlex
from pathlib import Path

import yaml

from apps.catalog import load_apps
from apps.cli import build_parser
from apps.core.config import overrides_from_args

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "training"


def _documents(name):
    return {document["kind"]: document for document in yaml.safe_load_all((DEPLOY / name).read_text())}


def _check_train_command(argv):
    """The arguments parse with kapps' own parser into a valid multi-worker config."""
    args = build_parser(load_apps()).parse_args(argv)
    assert args.action == "train" and args.run_dir
    app = load_apps().entry(args.command)
    config = app.config_class().replace(**overrides_from_args(args)).validate()
    assert config.distribute == "multi-worker"
    return args


def _volume_claims(pod_spec):
    return {volume["persistentVolumeClaim"]["claimName"] for volume in pod_spec["volumes"]}


def test_tfjob_runs_the_same_command_on_every_worker():
    job = _documents("tfjob.yaml")["TFJob"]
    workers = job["spec"]["tfReplicaSpecs"]["Worker"]
    assert workers["replicas"] >= 2 and workers["restartPolicy"] == "OnFailure"
    pod = workers["template"]["spec"]
    args = _check_train_command(pod["containers"][0]["args"])
    assert args.run_dir.startswith(pod["containers"][0]["volumeMounts"][0]["mountPath"])
    assert _volume_claims(pod) == {_documents("runs-volume.yaml")["PersistentVolumeClaim"]["metadata"]["name"]}


def test_indexed_job_builds_a_tf_config_naming_every_pod():
    documents = _documents("indexed-job.yaml")
    job, service = documents["Job"], documents["Service"]
    spec = job["spec"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"] >= 2
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "OnFailure" and pod["subdomain"] == service["metadata"]["name"]
    script = pod["containers"][0]["args"][0]
    tf_config = re.search(r'TF_CONFIG="(.*?)" &&', script, re.S).group(1)
    spec_for_pod = json.loads(tf_config.replace('\\"', '"').replace("${JOB_COMPLETION_INDEX}", "1"))
    name, port = job["metadata"]["name"], service["spec"]["ports"][0]["port"]
    assert spec_for_pod["cluster"]["worker"] == [
        f"{name}-{index}.{service['metadata']['name']}:{port}" for index in range(spec["completions"])
    ]
    assert spec_for_pod["task"] == {"type": "worker", "index": 1}
    _check_train_command(shlex.split(script.split("exec kapps", 1)[1]))


def test_the_image_holds_every_package_it_installs():
    copied = re.findall(r"^COPY (\S+) \1$", (DEPLOY / "Dockerfile").read_text(), re.M)
    packages = [
        line.strip()
        for line in (DEPLOY.parents[1] / "setup.cfg").read_text().split("include =")[1].split("\n\n")[0].splitlines()
        if line.strip() and "*" not in line
    ]
    assert set(packages) <= set(copied), (packages, copied)


def test_data_service_manifests_connect_workers_and_trainer_to_the_dispatcher():
    documents = list(yaml.safe_load_all((DEPLOY / "data-service.yaml").read_text()))
    service = next(document for document in documents if document["kind"] == "Service")
    port = service["spec"]["ports"][0]["port"]
    address = f"{service['metadata']['name']}:{port}"
    parser = build_parser(load_apps())

    def pod(name, kind):
        document = next(item for item in documents if item["kind"] == kind and item["metadata"]["name"] == name)
        return document["spec"]["template"]["spec"]

    dispatcher = pod("kapps-data-dispatcher", "Deployment")
    deployment = next(document for document in documents if document["kind"] == "Deployment")
    assert deployment["spec"]["template"]["metadata"]["labels"] == service["spec"]["selector"]
    assert dispatcher["containers"][0]["ports"][0]["containerPort"] == port
    args = parser.parse_args(dispatcher["containers"][0]["args"])
    assert (args.role, args.port) == ("dispatcher", port) and args.work_dir.startswith("/runs/")
    worker = pod("kapps-data-worker", "Deployment")
    args = parser.parse_args(worker["containers"][0]["args"])
    assert args.role == "worker" and args.dispatcher == address
    assert args.worker_address == f"$(POD_IP):{args.port}" and worker["containers"][0]["env"][0]["name"] == "POD_IP"
    trainer = pod("kapps-detection-train-served", "Job")
    args = parser.parse_args(trainer["containers"][0]["args"])
    config = load_apps().entry(args.command).config_class().replace(**overrides_from_args(args)).validate()
    assert config.data_service == f"grpc://{address}" and config.data.startswith("records:/runs/")
    claims = _documents("runs-volume.yaml")["PersistentVolumeClaim"]["metadata"]["name"]
    assert all(_volume_claims(spec) == {claims} for spec in (dispatcher, worker, trainer))
