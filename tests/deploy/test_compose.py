"""docker-compose.yml: valid for docker-compose itself, and naming only what the code reads."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import click
import pytest
import yaml

from kcolors.jobs.settings import PREFIX, Settings, metrics_host_port
from tests.deploy.manifests import (
    COMPOSE_FILE,
    DEPLOY,
    check_container_environment,
    check_kcolors_command,
    duration_seconds,
    is_kcolors_image,
    mentioned_kcolors_variables,
)

KCOLORS_SERVICES = ("web", "worker")


def compose_config(compose_file: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run `docker-compose config` (no engine needed) with only the given variables set."""
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose is missing: run scripts/install-system-deps.sh")
    return subprocess.run(
        ["docker-compose", "--file", str(compose_file), *args, "config"],
        cwd=compose_file.parent,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def config() -> dict:
    """The compose file as docker-compose resolves it (anchors, defaults, interpolation)."""
    result = compose_config(COMPOSE_FILE, KCOLORS_SECRET_KEY="test-secret")
    assert result.returncode == 0, result.stderr
    return yaml.safe_load(result.stdout)


def test_docker_compose_rejects_an_invalid_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE_FILE.read_text().replace("stop_grace_period:", "stop_grace_perod:"))
    result = compose_config(broken, KCOLORS_SECRET_KEY="test-secret")
    assert result.returncode != 0
    assert "stop_grace_perod" in result.stderr


def test_a_secret_key_is_required():
    result = compose_config(COMPOSE_FILE)
    assert result.returncode != 0
    assert "set KCOLORS_SECRET_KEY" in result.stderr


def test_redis_persists_jobs_and_never_evicts_them(config):
    command = config["services"]["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(v.startswith("redis-data:/data") for v in config["services"]["redis"]["volumes"])


def test_web_and_worker_run_the_kcolors_image_built_from_deploy_dockerfile(config):
    for name in KCOLORS_SERVICES:
        service = config["services"][name]
        assert is_kcolors_image(service["image"])
        assert Path(service["build"]["context"]) / service["build"]["dockerfile"] == (
            DEPLOY / "Dockerfile"
        )


def test_worker_can_be_scaled(config):
    worker = config["services"]["worker"]
    # A fixed container name or a published host port would make `--scale worker=4` fail.
    assert "container_name" not in worker
    assert "ports" not in worker


def test_worker_stops_gracefully_after_the_hard_time_limit(config):
    worker = config["services"]["worker"]
    settings = Settings.from_env(worker["environment"])
    assert duration_seconds(worker["stop_grace_period"]) > settings.hard_time_limit


def test_the_bucket_is_created_before_web_and_worker_start(config):
    services = config["services"]
    assert services["createbucket"]["restart"] == "no"
    script = " ".join(services["createbucket"]["command"])
    for name in KCOLORS_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["createbucket"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
        bucket = urlsplit(services[name]["environment"]["KCOLORS_STORAGE_URL"]).netloc
        assert f"mb --ignore-existing local/{bucket}" in script


def test_services_reach_each_other_by_service_name(config):
    env = config["services"]["web"]["environment"]
    assert urlsplit(env["KCOLORS_BROKER_URL"]).hostname == "redis"
    assert urlsplit(env["KCOLORS_S3_ENDPOINT_URL"]).hostname == "minio"
    # The S3 keys of web and worker are MinIO's root user.
    minio = config["services"]["minio"]["environment"]
    assert env["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
    assert env["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]


def test_flower_is_behind_a_profile(config):
    flower = config["services"]["flower"]
    assert flower["profiles"] == ["flower"]
    assert (
        flower["environment"]["CELERY_BROKER_URL"]
        == (config["services"]["worker"]["environment"]["KCOLORS_BROKER_URL"])
    )


@pytest.mark.parametrize("name", KCOLORS_SERVICES)
def test_environment_is_settings_the_code_reads(config, name):
    environment = config["services"][name]["environment"]
    check_container_environment(set(environment))
    settings = Settings.from_env(environment)
    assert settings.broker_url == environment["KCOLORS_BROKER_URL"]
    assert settings.secret() == "test-secret"


@pytest.mark.parametrize("name", KCOLORS_SERVICES)
def test_commands_are_kcolors_commands(config, name):
    command = config["services"][name]["command"]
    check_kcolors_command(command)


def test_every_kcolors_variable_written_is_a_setting():
    mentioned = mentioned_kcolors_variables(COMPOSE_FILE.read_text())
    assert "KCOLORS_BROKER_URL" in mentioned
    check_container_environment(mentioned)


def test_worker_exposes_the_metrics_port_inside_the_network(config):
    worker = config["services"]["worker"]
    address = Settings.from_env(worker["environment"]).metrics_address
    host, port = metrics_host_port(address)
    assert host == "0.0.0.0" and str(port) in worker["expose"]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["kcolors", "worker", "--concurency", "1"], click.NoSuchOption),
        (["kcolors", "web", "--port", "eighty"], click.BadParameter),
        (["kcolors", "serve"], AssertionError),
    ],
)
def test_the_command_check_rejects_what_kcolors_would(argv, error):
    with pytest.raises(error):
        check_kcolors_command(argv)


def test_prometheus_scrapes_the_web_server_and_every_worker(config):
    prometheus = config["services"]["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    source = prometheus["volumes"][0].split(":")[0]
    scrape = yaml.safe_load((COMPOSE_FILE.parent / source).read_text())["scrape_configs"]
    jobs = {job["job_name"]: job for job in scrape}
    web_port = int(config["services"]["web"]["expose"][0])
    assert jobs["kcolors-web"]["static_configs"][0]["targets"] == [f"web:{web_port}"]
    [workers] = jobs["kcolors-worker"]["dns_sd_configs"]
    address = Settings.from_env(config["services"]["worker"]["environment"]).metrics_address
    assert workers["names"] == ["worker"] and workers["port"] == metrics_host_port(address)[1]


def test_every_setting_is_documented_in_the_readme():
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    undocumented = [
        f"{PREFIX}{name.upper()}"
        for name in Settings.model_fields
        if f"| `{PREFIX}{name.upper()}` |" not in readme
    ]
    assert not undocumented, f"README's settings table lacks {undocumented}"


def test_only_the_buffering_proxy_is_published_and_it_forwards_to_the_web_server(config):
    services = config["services"]
    assert "ports" not in services["web"]  # gunicorn never meets a client directly
    proxy = services["proxy"]
    [published] = proxy["ports"]
    env = proxy["environment"]
    assert int(published["target"]) == int(env["PROXY_LISTEN"])
    assert env["PROXY_UPSTREAM"] == f"web:{services['web']['expose'][0]}"
    assert proxy["depends_on"]["web"]["condition"] == "service_healthy"
    template, target = proxy["volumes"][0].split(":")[:2]
    assert (COMPOSE_FILE.parent / template).is_file()
    assert target.startswith("/etc/nginx/templates/")
    # The proxy forwards one hop of X-Forwarded-For, and the web trusts exactly one.
    assert Settings.from_env(services["web"]["environment"]).proxy_hops == 1
    body = env["PROXY_MAX_BODY"].removesuffix("m")
    limit = Settings.from_env(services["web"]["environment"]).max_upload_bytes
    assert int(body) * 1024 * 1024 > limit
