"""One settings object, read from `KCOLORS_*` environment variables, shared by web and worker.

A frozen pydantic model: each field's type and bounds are declared once, next to it, and a bad
value is one line naming its variable, the value and the rule (`InvalidConfiguration`). The
secret key and the tokens are `SecretStr`: never in a repr, a log line or a traceback.

It is a model, not pydantic-settings' `BaseSettings`: that one reads the environment whenever a
`Settings` is made, and here only `from_env` does (`kcolors up`, the tests and the replicas of
the web build theirs from explicit values, and must not pick up the shell's variables).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)

from kcolors import defaults
from kcolors.errors import InvalidConfiguration

PREFIX = "KCOLORS_"


def _comma_list(value: Any) -> Any:
    """`a, b,,c` as a variable gives ("a", "b", "c")."""
    if isinstance(value, str):
        return tuple(item.strip() for item in value.split(",") if item.strip())
    return value


def _plain_whole_number(value: Any) -> Any:
    """A variable's digits, ASCII only: pydantic (as int()) would take `1_000` and `10.0`."""
    if isinstance(value, str) and not re.fullmatch(r"\s*-?[0-9]+\s*", value):
        raise ValueError("must be a whole number")
    return value


Whole = Annotated[int, BeforeValidator(_plain_whole_number)]
NonNegative = Annotated[Whole, Field(ge=0)]
Positive = Annotated[Whole, Field(gt=0)]
Tokens = Annotated[tuple[SecretStr, ...], BeforeValidator(_comma_list)]
# An empty variable means "unset" (the default), except for these: empty says something.
EMPTY_IS_A_VALUE = frozenset({"rate_limit"})


class Settings(BaseModel):
    """Service configuration; each field `name` is read from `KCOLORS_<NAME>`."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    broker_url: str | None = None  # None: `kcolors up` starts an embedded Valkey server
    storage_url: str = defaults.STORAGE_URL
    s3_endpoint_url: str | None = None
    s3_public_url: str | None = None  # the S3 endpoint as clients reach it, for presigned URLs
    max_pixels: Positive = defaults.MAX_PIXELS
    max_pixels_per_byte: Positive = defaults.MAX_PIXELS_PER_BYTE
    max_job_work: Positive = defaults.MAX_JOB_WORK_PIXELS  # pixels x outputs per job
    rate_limit: str = defaults.RATE_LIMIT  # submissions per client; "" (set, empty) for none
    proxy_hops: NonNegative = 0  # trusted reverse proxies in front (X-Forwarded-For hops)
    max_upload_bytes: Positive = defaults.MAX_UPLOAD_BYTES
    max_k_values: Positive = defaults.MAX_K_VALUES
    source_prefix: str = defaults.SOURCE_PREFIX
    soft_time_limit: Whole = defaults.SOFT_TIME_LIMIT_SECONDS
    hard_time_limit: Whole = defaults.HARD_TIME_LIMIT_SECONDS
    visibility_timeout: Whole = defaults.VISIBILITY_TIMEOUT_SECONDS
    presign_expires: Positive = defaults.PRESIGN_EXPIRES_SECONDS
    storage_retries: NonNegative = defaults.STORAGE_RETRIES
    max_waiting_requests: NonNegative = defaults.MAX_WAITING_REQUESTS  # per process; 0: never
    batch_window: Positive = defaults.BATCH_WINDOW  # batch jobs in the queue at once
    sweep_interval: NonNegative = defaults.SWEEP_INTERVAL_SECONDS  # 0: no automatic sweep
    retention_days: Annotated[float, Field(ge=0, lt=1e6)] = defaults.RETENTION_DAYS  # 0: forever
    api_tokens: Tokens = ()
    secret_key: SecretStr | None = None
    log_level: str = "INFO"
    log_format: str = "text"  # "json" for one JSON object per line, carrying the job id
    metrics_address: str | None = None  # HOST:PORT of the worker's Prometheus exporter

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise configuration_error(exc, values) from None

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
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
        if self.max_k_values < len(defaults.DEFAULT_KS):
            # A request without k asks for the default list: it must fit.
            raise bad(
                "max_k_values",
                self.max_k_values,
                f"must be at least {len(defaults.DEFAULT_KS)}, the length of the default k list "
                f"{','.join(map(str, defaults.DEFAULT_KS))}",
            )
        if self.metrics_address is not None:
            metrics_host_port(self.metrics_address)
        if self.log_format not in ("text", "json"):
            raise bad("log_format", self.log_format, "must be text or json")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from defaults, then the environment, then explicit overrides."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            raw = environ.get(var(name))
            if raw is not None and (raw != "" or name in EMPTY_IS_A_VALUE):
                values[name] = raw
        return cls(**{**values, **overrides})

    def to_env(self) -> dict[str, str]:
        """Return the settings as `KCOLORS_*` variables, for the processes `kcolors up` starts."""
        env = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, tuple):
                text = ",".join(reveal(item) for item in value)
            else:
                text = reveal(value)
            env[var(name)] = text
        return env

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with some fields changed (checked as a new one is)."""
        return type(self)(**{**self.model_dump(), **changes})

    def tokens(self) -> tuple[str, ...]:
        """The API tokens, revealed: for comparing a client's token, nothing else."""
        return tuple(token.get_secret_value() for token in self.api_tokens)

    def secret(self) -> str | None:
        """The secret key, revealed: for signing sessions, nothing else."""
        return None if self.secret_key is None else self.secret_key.get_secret_value()


def reveal(value: Any) -> str:
    """A setting's value as its variable holds it (secrets included: for child processes)."""
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def var(name: str) -> str:
    """The environment variable of a setting: `hard_time_limit` -> `KCOLORS_HARD_TIME_LIMIT`."""
    return f"{PREFIX}{name.upper()}"


def bad(name: str, value: Any, rule: str) -> InvalidConfiguration:
    """The error for a setting that breaks a rule, naming its variable, its value and the rule."""
    return InvalidConfiguration(f"{var(name)}={value!r} {rule}")


# pydantic's words for a rule, as this project says them.
_RULES = {
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_type": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "finite_number": "must be a finite number",
    "extra_forbidden": "is not a setting",
}


def configuration_error(exc: ValidationError, values: Mapping[str, Any]) -> InvalidConfiguration:
    """One line per bad variable: its name, the value given (never a secret's) and the rule."""
    lines = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "?"
        if error["type"] == "value_error":  # one of our own validators: its words
            rule = str((error.get("ctx") or {}).get("error", error["msg"]))
        else:
            rule = _RULES.get(error["type"]) or _bound(error) or error["msg"]
        given = "(hidden)" if name in ("api_tokens", "secret_key") else repr(values.get(name))
        lines.append(f"{var(name)}={given} {rule}")
    return InvalidConfiguration("; ".join(lines))


def _bound(error: Any) -> str | None:
    context = error.get("ctx") or {}
    for key, words in (("gt", "more than"), ("ge", "at least"), ("lt", "less than")):
        if key in context:
            limit = context[key]
            if key == "ge" and limit == 0:
                return "must be 0 or more"
            if key == "gt" and limit == 0:
                return "must be more than 0"
            return f"must be {words} {limit}"
    return None


def metrics_host_port(address: str) -> tuple[str, int]:
    """Split a `HOST:PORT` exporter address, refusing anything else."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise bad("metrics_address", address, "must be HOST:PORT")
    return host, int(port)
