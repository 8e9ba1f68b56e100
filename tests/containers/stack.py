"""docker-compose.yml run for real by podman-compose, with tests/containers/compose.override.yml.

podman 4.3 (Debian 12) differs from Docker Compose in two ways that `ComposeStack.up` makes up
for, doing by hand what `depends_on` promises:
- podman-compose ignores `condition: service_healthy` before podman 4.6, and podman runs health
  checks only from systemd timers (none here): `up` runs `podman healthcheck run` itself;
- a container created with `--requires` on a finished one-shot (createbucket) cannot be started
  ("not found in input list"): `up` starts each tier with `--no-deps`, in dependency order.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.containers.images import REPO, podman, podman_env

# From the same environment as pytest (`make setup` installs it with the dev dependencies).
PODMAN_COMPOSE = str(Path(sys.executable).parent / "podman-compose")
OVERRIDE = Path(__file__).resolve().parent / "compose.override.yml"
# How long each nginx worker caches the web's address: read from the template it runs.
NGINX_TEMPLATE = REPO / "deploy" / "nginx" / "kcolors.conf.template"
NGINX_RESOLVER_VALID_SECONDS = int(
    re.search(r"resolver .* valid=(\d+)s", NGINX_TEMPLATE.read_text()).group(1)
)


def go_duration_seconds(text: str) -> float:
    """Seconds in a Go duration as podman prints it: "1m2.5s", "314.37ms", "870µs"."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    parts = re.findall(r"([\d.]+)(h|ms|m|s|us|µs|ns)", text)
    assert parts, text
    return sum(float(number) * units[unit] for number, unit in parts)


class ComposeStack:
    """One compose project: its name, its published port and the variables it is run with."""

    def __init__(self, project: str, port: int, environment: dict[str, str]) -> None:
        self.project = project
        self.url = f"http://127.0.0.1:{port}"
        self.environment = {
            **podman_env(),
            "WEB_PUBLISH_ADDRESS": f"127.0.0.1:{port}",
            **environment,
        }

    def compose(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            [PODMAN_COMPOSE, "--in-pod", "false", "-p", self.project,
             "-f", str(REPO / "docker-compose.yml"), "-f", str(OVERRIDE), *args],
            cwd=REPO, env=self.environment, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if result.returncode != 0:
            raise AssertionError(f"podman-compose {' '.join(args)}: {result.stderr[-3000:]}")
        return result.stdout

    def up(self, workers: int) -> None:
        """Start every service as `docker compose up -d --scale worker=N` would."""
        self.compose("up", "-d", "--no-deps", "redis", "minio", "createbucket")
        [createbucket] = self.containers("createbucket")
        exit_code = podman("wait", createbucket, timeout=180).stdout.strip()
        assert exit_code == "0", podman("logs", createbucket, check=False).stderr
        self.compose("up", "-d", "--no-deps", "web")
        self.wait_healthy("web")
        self.compose("up", "-d", "--no-deps", "--scale", f"worker={workers}", "worker", "proxy")
        self.wait_ready()
        self.wait_workers_ready()

    def scale_workers(self, workers: int) -> None:
        """`docker compose up -d --scale worker=N`. podman-compose adds the missing containers
        but never removes any: the extra ones are stopped here (warm shutdown) and removed."""
        running = self.containers("worker")
        extra = sorted(running, key=lambda name: int(name.rsplit("_", 1)[1]))[workers:]
        if extra:
            podman("rm", "--force", "--time", "60", *extra, timeout=300)
        self.compose("up", "-d", "--no-deps", "--scale", f"worker={workers}", "worker")
        self.wait_workers_ready()

    def wait_workers_ready(self, timeout: float = 120) -> None:
        """Wait until every running worker has said it is ready (connected, consuming)."""
        deadline = time.monotonic() + timeout
        for container in self.containers("worker", include_stopped=False):
            while " ready." not in self.logs(container):
                assert time.monotonic() < deadline, self.logs(container)[-3000:]
                time.sleep(0.5)

    def down(self, volumes: bool = False) -> None:
        """`docker compose down`. podman-compose's own knows only the first container of a
        scaled service: the others (found by the project's label) are removed here."""
        self.compose("down", *(["--volumes"] if volumes else []), timeout=600)
        label = f"label=com.docker.compose.project={self.project}"
        leftovers = podman("ps", "-a", "-q", "--filter", label).stdout.split()
        if leftovers:
            podman("rm", "--force", "--time", "30", *leftovers, timeout=600)
        if volumes:
            podman("volume", "prune", "--force", "--filter", label)
            podman("network", "prune", "--force", "--filter", label)

    def containers(self, service: str, include_stopped: bool = True) -> list[str]:
        """Names of the service's containers, stopped ones too unless told otherwise."""
        result = podman(
            "ps", *(["-a"] if include_stopped else []), "--format", "json",
            "--filter", f"label=com.docker.compose.project={self.project}",
            "--filter", f"label=com.docker.compose.service={service}",
        )  # fmt: skip
        return sorted(c["Names"][0] for c in json.loads(result.stdout or "[]"))

    def get(self, path: str) -> bytes:
        """GET `path` on the published port, following a redirect to a presigned S3 URL."""
        response = requests.get(self.url + path, timeout=10)
        assert response.status_code == 200, (response.status_code, response.url, response.text)
        return response.content

    def cpu_seconds(self, service: str) -> float:
        """CPU time used so far by the service's running containers, together (cgroup counts)."""
        names = self.containers(service, include_stopped=False)
        stats = json.loads(podman("stats", "--no-stream", "--format", "json", *names).stdout)
        return sum(go_duration_seconds(entry["cpu_time"]) for entry in stats)

    def logs(self, container: str) -> str:
        result = podman("logs", container, check=False)
        return result.stdout + result.stderr

    def wait_healthy(self, service: str, timeout: float = 120) -> None:
        """Run the service's health check (the image's HEALTHCHECK) until it passes."""
        deadline = time.monotonic() + timeout
        for container in self.containers(service, include_stopped=False):
            while podman("healthcheck", "run", container, check=False).returncode != 0:
                assert time.monotonic() < deadline, self.logs(container)[-3000:]
                time.sleep(1)

    def wait_ready(self, timeout: float = 120) -> None:
        """Wait until the published port answers /readyz through nginx with 200, then for the
        nginx resolver's validity: each nginx worker caches the web's address for that long, and
        one that has not asked since a restart still holds the old address (504s)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    time.sleep(NGINX_RESOLVER_VALID_SECONDS + 0.5)
                    return
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"{self.url}/readyz never answered 200"
            time.sleep(1)
