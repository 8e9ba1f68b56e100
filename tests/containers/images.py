"""The images the container tests run, made on this machine: no container registry is reachable.

- `localhost/kcolors-debian:bookworm`: Debian made by mmdebstrap from Debian's mirror, imported.
- From it (tests/containers/images/*.Containerfile): a Python 3.11 base standing in for
  python:3.11-slim, Redis, nginx, and s3rver standing in for MinIO.
- `localhost/kcolors:latest`: deploy/Dockerfile itself, from that Python base, its Python
  packages from a wheelhouse downloaded by that same Python (so environment markers match).

`python -m tests.containers.images` builds them all and prints each step's time and the sizes.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.lock import runtime_requirements

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CONTAINERS_CONF = HERE / "containers.conf"
WHEELHOUSE = REPO / "build" / "wheelhouse"

DEBIAN = "localhost/kcolors-debian:bookworm"
PYTHON = "localhost/kcolors-python:3.11"
KCOLORS = "localhost/kcolors:latest"
# image -> its Containerfile in tests/containers/images (also the build context)
SERVICES = {
    PYTHON: "python.Containerfile",
    "localhost/kcolors-redis:bookworm": "redis.Containerfile",
    "localhost/kcolors-nginx:bookworm": "nginx.Containerfile",
    "localhost/kcolors-s3:bookworm": "s3.Containerfile",
}
S3RVER = REPO / "tests" / "s3rver"  # the build context `s3rver` of s3.Containerfile


def podman_env() -> dict[str, str]:
    """The environment for podman and podman-compose: this folder's containers.conf."""
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}


def podman(*args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["podman", *args],
        env=podman_env(),
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


def why_containers_cannot_run() -> str | None:
    """None when podman can run a container here; else the reason, in words."""
    for tool in ("podman", "mmdebstrap"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (`make setup` installs it on Debian)"
    if not (S3RVER / "node_modules").is_dir():
        return "s3rver is not installed (`make setup` installs it)"
    if not image_exists(DEBIAN):
        make_debian_base()
    result = podman("run", "--rm", "--network", "none", DEBIAN, "true", check=False, timeout=120)
    if result.returncode != 0:
        return f"podman cannot start a container here: {result.stderr.strip()[-500:]}"
    return None


def image_exists(name: str) -> bool:
    return podman("image", "exists", name, check=False).returncode == 0


def image_size(name: str) -> int:
    return int(podman("image", "inspect", name, "--format", "{{.Size}}").stdout.strip())


def make_debian_base() -> None:
    """Debian bookworm, minimal, without documentation, man pages, translations or apt's caches."""
    tarball = REPO / "build" / "kcolors-debian.tar"
    tarball.parent.mkdir(exist_ok=True)
    subprocess.run(
        ["mmdebstrap", "--variant=minbase", "--quiet",
         "--dpkgopt=path-exclude=/usr/share/man/*",
         "--dpkgopt=path-exclude=/usr/share/locale/*",
         "--dpkgopt=path-exclude=/usr/share/doc/*",
         "--dpkgopt=path-include=/usr/share/doc/*/copyright",
         "--customize-hook=rm -rf \"$1\"/var/cache/apt/* \"$1\"/var/lib/apt/lists/*",
         "bookworm", str(tarball)],
        check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    podman("import", str(tarball), DEBIAN)
    tarball.unlink()


def requirements() -> list[str]:
    """What deploy/Dockerfile installs: the lock's runtime set and, pinned by the same lock, uv
    (which exports that set) and setuptools (which builds the project), each with its hashes."""
    pins = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "locked.py"), "uv", "setuptools"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    return [*runtime_requirements(), *pins]


def download_wheelhouse() -> None:
    """Wheels of every file deploy/Dockerfile installs, downloaded by the Python of the base
    image so that markers such as `python_full_version < "3.11.3"` are judged by it, and checked
    against the lock's hashes as the image's own install checks them."""
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    (WHEELHOUSE / "requirements.txt").write_text("\n".join(requirements()) + "\n")
    certificates = os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt")
    podman(
        "run", "--rm", "--network", "host",
        "-v", f"{WHEELHOUSE}:/wheelhouse",
        "-v", f"{certificates}:/etc/ssl/certs/host-ca.crt:ro",
        "-e", "PIP_CERT=/etc/ssl/certs/host-ca.crt",
        PYTHON, "sh", "-c",
        "python -m venv /tmp/venv && /tmp/venv/bin/pip download --quiet "
        "--disable-pip-version-check --require-hashes --no-deps --dest /wheelhouse "
        "-r /wheelhouse/requirements.txt",
    )  # fmt: skip


def build_service_image(image: str, containerfile: str) -> None:
    podman("build", "--format", "docker", "-f", str(HERE / "images" / containerfile),
           "--build-context", f"s3rver={S3RVER}", "-t", image, str(HERE / "images"))  # fmt: skip


def build_kcolors_image() -> None:
    """deploy/Dockerfile, as a user builds it but for its two offline arguments."""
    podman(
        "build", "--format", "docker", "-f", str(REPO / "deploy" / "Dockerfile"),
        "--build-arg", f"BASE={PYTHON}", "--build-arg", "PIP_OFFLINE=1",
        "--build-context", f"wheels={WHEELHOUSE}",
        "-t", KCOLORS, str(REPO),
    )  # fmt: skip


def build_all(log=print) -> dict[str, float]:
    """Build every image (the Debian base only when missing); return each step's seconds."""
    seconds: dict[str, float] = {}

    def step(name: str, action) -> None:
        started = time.monotonic()
        action()
        seconds[name] = time.monotonic() - started
        log(f"{name}: {seconds[name]:.1f} s")

    if not image_exists(DEBIAN):
        step("debian base (mmdebstrap)", make_debian_base)
    for image, containerfile in SERVICES.items():
        step(image, functools.partial(build_service_image, image, containerfile))
    step("wheelhouse", download_wheelhouse)
    step(KCOLORS, build_kcolors_image)
    return seconds


def main() -> None:
    reason = why_containers_cannot_run()
    if reason:
        sys.exit(f"cannot run containers here: {reason}")
    started = time.monotonic()
    build_all()
    print(f"all images: {time.monotonic() - started:.1f} s")
    for image in [DEBIAN, *SERVICES, KCOLORS]:
        print(f"{image}: {image_size(image) / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
