"""One settings object, read from `KCOLORS_*` environment variables, shared by web and worker."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kcolors import defaults
from kcolors.errors import InvalidConfiguration

PREFIX = "KCOLORS_"


@dataclass(frozen=True)
class Settings:
    """Service configuration; each field `name` is read from `KCOLORS_<NAME>`."""

    broker_url: str | None = None  # None: `kcolors up` starts an embedded Valkey server
    storage_url: str = defaults.STORAGE_URL
    s3_endpoint_url: str | None = None
    s3_public_url: str | None = None  # the S3 endpoint as clients reach it, for presigned URLs
    max_pixels: int = defaults.MAX_PIXELS
    max_pixels_per_byte: int = defaults.MAX_PIXELS_PER_BYTE
    max_job_work: int = defaults.MAX_JOB_WORK_PIXELS  # pixels x outputs per job
    # submissions per client; "" (set, and empty) for none
    rate_limit: str = field(default=defaults.RATE_LIMIT, metadata={"empty_is_a_value": True})
    proxy_hops: int = 0  # trusted reverse proxies in front (X-Forwarded-For hops to believe)
    max_upload_bytes: int = defaults.MAX_UPLOAD_BYTES
    max_k_values: int = defaults.MAX_K_VALUES
    source_prefix: str = defaults.SOURCE_PREFIX
    soft_time_limit: int = defaults.SOFT_TIME_LIMIT_SECONDS
    hard_time_limit: int = defaults.HARD_TIME_LIMIT_SECONDS
    visibility_timeout: int = defaults.VISIBILITY_TIMEOUT_SECONDS
    presign_expires: int = defaults.PRESIGN_EXPIRES_SECONDS
    storage_retries: int = defaults.STORAGE_RETRIES
    max_waiting_requests: int = defaults.MAX_WAITING_REQUESTS  # per web process; 0: never wait
    sweep_interval: int = defaults.SWEEP_INTERVAL_SECONDS  # 0: no automatic sweep for lost jobs
    retention_days: float = defaults.RETENTION_DAYS  # 0: keep jobs for ever
    api_tokens: tuple[str, ...] = field(default=(), repr=False)
    secret_key: str | None = field(default=None, repr=False)
    log_level: str = "INFO"
    log_format: str = "text"  # "json" for one JSON object per line, carrying the job id
    metrics_address: str | None = None  # HOST:PORT of the worker's Prometheus exporter

    def __post_init__(self) -> None:
        soft, hard, visibility = self.soft_time_limit, self.hard_time_limit, self.visibility_timeout
        if not soft < hard:
            raise bad("soft_time_limit", soft, f"must be less than {var('hard_time_limit')}={hard}")
        if not hard < visibility:
            raise bad(
                "visibility_timeout",
                visibility,
                f"must be more than {var('hard_time_limit')}={hard}, or Redis would hand a "
                "running job to a second worker",
            )
        for name in ("storage_retries", "max_waiting_requests", "sweep_interval", "proxy_hops"):
            if getattr(self, name) < 0:
                raise bad(name, getattr(self, name), "must be 0 or more")
        for name in ("max_pixels", "max_upload_bytes", "max_k_values", "max_pixels_per_byte",
                     "max_job_work", "presign_expires"):  # fmt: skip
            if getattr(self, name) <= 0:
                raise bad(name, getattr(self, name), "must be more than 0")
        if self.max_k_values < len(defaults.DEFAULT_KS):
            # A request without k asks for the default list: it must fit.
            raise bad(
                "max_k_values",
                self.max_k_values,
                f"must be at least {len(defaults.DEFAULT_KS)}, the length of the default k list "
                f"{','.join(map(str, defaults.DEFAULT_KS))}",
            )
        if not 0 <= self.retention_days < 1e6:  # also refuses nan
            raise bad("retention_days", self.retention_days, "must be 0 (keep for ever) or more")
        if self.metrics_address is not None:
            metrics_host_port(self.metrics_address)
        if self.log_format not in ("text", "json"):
            raise bad("log_format", self.log_format, "must be text or json")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from defaults, then the environment, then explicit overrides."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            raw = environ.get(PREFIX + f.name.upper())
            # An empty variable is unset (its default), except where empty says something.
            if raw is not None and (raw != "" or f.metadata.get("empty_is_a_value")):
                values[f.name] = _parse(f.name, raw, cls.__annotations__[f.name])
        values.update(overrides)
        return cls(**values)

    def to_env(self) -> dict[str, str]:
        """Return the settings as `KCOLORS_*` variables, for the processes `kcolors up` starts."""
        env = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None:
                continue
            text = ",".join(value) if isinstance(value, tuple) else str(value)
            env[PREFIX + f.name.upper()] = text
        return env

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)


def var(name: str) -> str:
    """The environment variable of a setting: `hard_time_limit` -> `KCOLORS_HARD_TIME_LIMIT`."""
    return f"{PREFIX}{name.upper()}"


def bad(name: str, value: Any, rule: str) -> InvalidConfiguration:
    """The error for a setting that breaks a rule, naming its variable, its value and the rule."""
    return InvalidConfiguration(f"{var(name)}={value!r} {rule}")


def _parse(name: str, raw: str, annotation: str) -> Any:
    """Convert one environment value to the field's type, naming the variable when it fails."""
    try:
        if annotation.startswith("int"):
            return int(raw)
        if annotation.startswith("float"):
            return float(raw)
        if annotation.startswith("tuple"):
            return tuple(item.strip() for item in raw.split(",") if item.strip())
    except ValueError as exc:
        kind = "a whole number" if annotation.startswith("int") else "a number"
        raise bad(name, raw, f"must be {kind}") from exc
    return raw


def metrics_host_port(address: str) -> tuple[str, int]:
    """Split a `HOST:PORT` exporter address, refusing anything else."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise bad("metrics_address", address, "must be HOST:PORT")
    return host, int(port)
