"""deploy/: every manifest valid for Kubernetes (or KEDA), the overlays build, names line up."""

from __future__ import annotations

import base64
import copy
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from kubernetes_validate import utils as kubernetes_schemas

from kcolors.jobs.broker import QUEUES
from kcolors.jobs.metrics import BACKLOG_METRIC
from kcolors.jobs.settings import Settings, metrics_host_port
from tests.deploy.manifests import (
    DEPLOY,
    KUSTOMIZATION,
    check_container_environment,
    check_kcolors_command,
    containers,
    kcolors_containers,
    kubernetes_files,
    kustomization_dirs,
    load_documents,
    mentioned_kcolors_variables,
    pod_spec,
)

KUBERNETES_VERSION = "1.30"  # the oldest release still supported when this was written
KEDA_SCHEMA = json.loads(
    (Path(__file__).parent / "keda-scaledobject-v1alpha1.schema.json").read_text()
)
PATCH_SUFFIX = "-patch.yaml"
OVERLAYS = sorted(p.name for p in (DEPLOY / "overlays").iterdir())


def validate(doc: dict[str, Any]) -> None:
    """Validate one object against Kubernetes' schemas (strict) or, for KEDA, our KEDA schema."""
    if doc["kind"] == "ScaledObject":
        jsonschema.validate(doc, KEDA_SCHEMA)
        # KEDA passes `behavior` to the HPA it creates: check it against the HPA's own schema.
        behavior = doc["spec"].get("advanced", {}).get("horizontalPodAutoscalerConfig", {})
        if "behavior" in behavior:
            validate(hpa_with_behavior(behavior["behavior"]))
        return
    kubernetes_schemas.validate(doc, KUBERNETES_VERSION, strict=True)


def hpa_with_behavior(behavior: dict[str, Any]) -> dict[str, Any]:
    """A minimal HorizontalPodAutoscaler carrying a ScaledObject's behavior."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "keda-behavior"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
            "maxReplicas": 1,
            "behavior": behavior,
        },
    }


def all_documents() -> list[dict[str, Any]]:
    """Every object under deploy/, patches (partial objects applied by overlays) left out."""
    paths = [p for p in kubernetes_files() if not p.name.endswith(PATCH_SUFFIX)]
    return [doc for path in paths for doc in load_documents(path)]


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """Objects of one kind, by name."""
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


@pytest.mark.parametrize("path", kubernetes_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_manifest_is_valid(path):
    docs = load_documents(path)
    assert docs
    for doc in docs:
        validate(doc)


def test_the_kubernetes_validator_rejects_a_misspelled_field():
    worker = copy.deepcopy(by_kind(all_documents(), "Deployment")["kcolors-worker"])
    worker["spec"]["template"]["spec"]["terminationGracePeriod"] = 420
    with pytest.raises(kubernetes_schemas.ValidationError):
        validate(worker)


@pytest.mark.parametrize(
    "change",
    [
        lambda so: so["spec"]["triggers"][0]["metadata"].pop("listName"),
        lambda so: so["spec"]["triggers"][0]["metadata"].update(listLength=2),
        lambda so: so["spec"]["scaleTargetRef"].pop("name"),
        lambda so: so["spec"].update(minReplicas=1),
    ],
    ids=["no-list-name", "number-not-string", "no-target", "hpa-field-name"],
)
def test_the_keda_schema_rejects_a_broken_scaled_object(change):
    scaled_object = copy.deepcopy(by_kind(all_documents(), "ScaledObject")["kcolors-worker"])
    change(scaled_object)
    with pytest.raises(jsonschema.ValidationError):
        validate(scaled_object)


@pytest.mark.parametrize(
    "directory", kustomization_dirs(), ids=lambda p: str(p.relative_to(DEPLOY))
)
def test_kustomizations_point_at_real_files(directory):
    kustomization = yaml.safe_load((directory / KUSTOMIZATION).read_text())
    entries = [*kustomization.get("resources", []), *kustomization.get("components", [])]
    entries += [p["path"] for p in kustomization.get("patches", []) if "path" in p]
    assert entries
    for entry in entries:
        target = (directory / entry).resolve()
        assert target.is_file() or (target / KUSTOMIZATION).is_file(), entry


def test_workers_outlast_the_hard_time_limit_when_stopped():
    docs = all_documents()
    config = by_kind(docs, "ConfigMap")["kcolors-config"]["data"]
    settings = Settings.from_env(config)
    worker = pod_spec(by_kind(docs, "Deployment")["kcolors-worker"])
    assert worker["terminationGracePeriodSeconds"] > settings.hard_time_limit


def test_every_container_has_requests_and_limits():
    for doc in all_documents():
        for container in containers(doc):
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), container["name"]
            assert {"cpu", "memory"} <= set(resources["limits"]), container["name"]


def test_kcolors_runs_as_the_images_non_root_user():
    docs = all_documents()
    for doc in docs:
        if any(True for _ in kcolors_containers([doc])):
            security = pod_spec(doc)["securityContext"]
            assert security["runAsNonRoot"] is True
            assert security["runAsUser"] == 10001  # USER in deploy/Dockerfile


def test_kcolors_containers_read_config_and_secret():
    docs = all_documents()
    config = by_kind(docs, "ConfigMap")["kcolors-config"]
    check_container_environment(set(config["data"]))
    Settings.from_env(config["data"])
    for container in kcolors_containers(docs):
        sources = {next(iter(s)): s[next(iter(s))]["name"] for s in container["envFrom"]}
        assert sources == {"configMapRef": "kcolors-config", "secretRef": "kcolors-secrets"}
        check_container_environment({e["name"] for e in container.get("env", [])})


def test_kcolors_commands_are_real_commands():
    for container in kcolors_containers(all_documents()):
        argv = [*container.get("command", []), *container.get("args", [])]
        check_kcolors_command(argv)


def test_every_kcolors_variable_written_is_a_setting():
    mentioned: set[str] = set()
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            mentioned |= mentioned_kcolors_variables(path.read_text())
    assert "KCOLORS_STORAGE_URL" in mentioned
    check_container_environment(mentioned)


def kustomize_build(overlay: str) -> list[dict[str, Any]]:
    """Render an overlay with kubectl's built-in kustomize."""
    kubectl = shutil.which("kubectl")
    # kubectl ships in the machine image: a missing one is a broken machine, not a reason to skip.
    assert kubectl is not None, "kubectl is needed to render the kustomize overlays"
    result = subprocess.run(
        [kubectl, "kustomize", str(DEPLOY / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_to_valid_consistent_objects(overlay):
    docs = kustomize_build(overlay)
    for doc in docs:
        validate(doc)
        assert doc["kind"] == "Namespace" or doc["metadata"]["namespace"] == "kcolors"
    workloads = {**by_kind(docs, "Deployment"), **by_kind(docs, "StatefulSet")}
    assert {"kcolors-web", "kcolors-worker"} <= set(workloads)
    # Exactly one autoscaler drives the workers, and it points at them.
    scalers = [d for d in docs if d["kind"] in ("ScaledObject", "HorizontalPodAutoscaler")]
    assert [s["spec"]["scaleTargetRef"]["name"] for s in scalers] == ["kcolors-worker"]
    # Every Service selects pods that exist and targets a port they name.
    for service in by_kind(docs, "Service").values():
        pods = [
            w
            for w in workloads.values()
            if service["spec"]["selector"].items()
            <= w["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert pods, service["metadata"]["name"]
        port_names = {p["name"] for c in containers(pods[0]) for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names
    # The configuration the pods read exists in the rendered output.
    config_maps, secrets = by_kind(docs, "ConfigMap"), by_kind(docs, "Secret")
    for container in kcolors_containers(docs):
        for source in container["envFrom"]:
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] in config_maps
            elif overlay == "example":  # other overlays expect the Secret created by hand
                assert source["secretRef"]["name"] in secrets


def test_example_overlay_runs_everything_in_cluster():
    docs = kustomize_build("example")
    config = next(iter(by_kind(docs, "ConfigMap").values()))["data"]
    secret = next(iter(by_kind(docs, "Secret").values()))
    environment = {**config, **_decoded(secret)}
    check_container_environment(set(environment))
    settings = Settings.from_env(environment)
    services = by_kind(docs, "Service")
    assert settings.s3_endpoint_url == "http://minio:9000" and "minio" in services
    assert settings.broker_url.startswith("redis://redis:6379") and "redis" in services
    # The queues KEDA watches are on that Redis, and the bucket job creates the storage's bucket.
    triggers = by_kind(docs, "ScaledObject")["kcolors-worker"]["spec"]["triggers"]
    lists = [trigger["metadata"] for trigger in triggers if trigger["type"] == "redis"]
    assert {trigger["address"] for trigger in lists} == {"redis:6379"}
    assert tuple(trigger["listName"] for trigger in lists) == QUEUES
    # The backlogs, from the web's /metrics (on the web Service's port), by the gauge's name.
    [backlog] = [trigger["metadata"] for trigger in triggers if trigger["type"] == "metrics-api"]
    assert backlog["url"] == "http://kcolors-web/metrics"
    assert backlog["valueLocation"] == BACKLOG_METRIC
    job_script = " ".join(containers(by_kind(docs, "Job")["minio-create-bucket"])[0]["args"])
    bucket = settings.storage_url.removeprefix("s3://").split("/")[0]
    assert f"mb --ignore-existing local/{bucket}" in job_script
    redis_args = containers(by_kind(docs, "StatefulSet")["redis"])[0]["args"]
    assert redis_args[redis_args.index("--appendonly") + 1] == "yes"
    assert redis_args[redis_args.index("--maxmemory-policy") + 1] == "noeviction"


def _decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}


def test_worker_exposes_the_configured_metrics_port():
    docs = all_documents()
    settings = Settings.from_env(by_kind(docs, "ConfigMap")["kcolors-config"]["data"])
    host, port = metrics_host_port(settings.metrics_address)
    assert host == "0.0.0.0"  # reachable from outside the pod
    worker = by_kind(docs, "Deployment")["kcolors-worker"]
    ports = {p["name"]: p["containerPort"] for p in containers(worker)[0]["ports"]}
    assert ports["metrics"] == port
    annotations = worker["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port)
