"""Read the deployment files and check what they name against the code that reads it."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import yaml

from cli.main import main as kcolors_group
from kcolors.jobs.settings import PREFIX, Settings

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = DEPLOY / "Dockerfile"
KUSTOMIZATION = "kustomization.yaml"

# Variables a kcolors container may carry besides KCOLORS_*: what boto3 reads.
BOTO3_VARIABLES = frozenset(
    {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"}
)
SETTINGS_VARIABLES = frozenset(PREFIX + name.upper() for name in Settings.model_fields)
KCOLORS_VARIABLE = re.compile(r"\bKCOLORS_[A-Z0-9_]+")
KCOLORS_IMAGE = re.compile(r"^(.*/)?kcolors(:[\w.-]+)?$")


def load_documents(path: Path) -> list[dict[str, Any]]:
    """Every YAML document in a file, empty ones dropped."""
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kubernetes_files() -> list[Path]:
    """Every Kubernetes manifest under deploy/ (kustomization files are not manifests)."""
    return sorted(p for p in DEPLOY.rglob("*.yaml") if p.name != KUSTOMIZATION)


def kustomization_dirs() -> list[Path]:
    """Every directory under deploy/ that kustomize can build or include."""
    return sorted(p.parent for p in DEPLOY.rglob(KUSTOMIZATION))


def pod_spec(doc: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod spec of a workload (Deployment, StatefulSet, Job), or None."""
    template = doc.get("spec", {}).get("template")
    return template.get("spec") if template else None


def containers(doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The containers (init containers included) of a workload."""
    spec = pod_spec(doc) or {}
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def is_kcolors_image(image: str) -> bool:
    """Whether an image reference is the kcolors image (any registry, any tag)."""
    return bool(KCOLORS_IMAGE.match(image))


def kcolors_containers(docs: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Containers running the kcolors image."""
    for doc in docs:
        yield from (c for c in containers(doc) if is_kcolors_image(c["image"]))


def mentioned_kcolors_variables(text: str) -> set[str]:
    """Every KCOLORS_* name written in a text, comments included."""
    return set(KCOLORS_VARIABLE.findall(text))


def check_container_environment(names: set[str]) -> None:
    """Fail unless every variable is a Settings field or one boto3 reads."""
    unknown = names - SETTINGS_VARIABLES - BOTO3_VARIABLES
    assert not unknown, f"variables nothing reads: {sorted(unknown)}"


def check_kcolors_command(argv: Sequence[str]) -> click.Command:
    """Parse a `kcolors ...` command line with the real click commands, as the shell would."""
    assert argv[0] == "kcolors", argv
    parent = click.Context(kcolors_group, info_name="kcolors")
    name, *rest = argv[1:]
    command = kcolors_group.get_command(parent, name)
    assert command is not None, f"`kcolors {name}` is not a command"
    # make_context parses the options exactly as a run would, and raises on unknown ones.
    command.make_context(name, list(rest), parent=parent)
    return command


def duration_seconds(text: str | int) -> float:
    """Seconds in a compose duration such as `7m`, `1m30s` or `90s`."""
    if isinstance(text, int):
        return float(text)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", text)
    assert parts and "".join(n + u for n, u in parts) == text, f"not a duration: {text!r}"
    return sum(float(n) * units[u] for n, u in parts)
