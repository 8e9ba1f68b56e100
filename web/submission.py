"""Turn a `POST /api/jobs` request into validated job parameters and an input image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Request

from worker import defaults
from worker.exceptions import (
    InvalidParameter,
    KcolorsError,
)
from worker.job import JobParams
from worker.probe import INPUT_EXTENSIONS, probe_image  # noqa: F401  (pages import both)
from worker.settings import Settings
from worker.storage import check_key

TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off", "")


class UnsupportedMediaType(KcolorsError):
    code = "unsupported_media_type"
    http_status = 415


class MissingImage(KcolorsError):
    code = "missing_image"
    http_status = 400


class InvalidJson(KcolorsError):
    code = "invalid_json"
    http_status = 400


@dataclass(frozen=True)
class Submission:
    """A validated request: parameters, plus the uploaded bytes or the key of a stored source."""

    params: JobParams
    image_info: dict[str, Any]
    upload: bytes | None = None
    source_key: str | None = None


def parse_ks(values: list[Any]) -> tuple[int, ...]:
    """Read k values given repeated, comma-separated, or as JSON numbers."""
    ks = []
    for value in values:
        items = value.split(",") if isinstance(value, str) else [value]
        for item in items:
            if isinstance(item, str) and item.strip().lstrip("-").isdigit():
                ks.append(int(item))
            elif isinstance(item, int) and not isinstance(item, bool):
                ks.append(item)
            elif not (isinstance(item, str) and not item.strip()):
                raise InvalidParameter(f"k must be whole numbers, got {item!r}")
    return tuple(ks)


def parse_bool(name: str, value: Any) -> bool:
    """Read a boolean from JSON or from a form word."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise InvalidParameter(f"{name} must be true or false")


def parse_number(name: str, value: Any, kind: type) -> Any:
    """Read an optional number from JSON or a form field."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidParameter(f"{name} must be a number")
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise InvalidParameter(f"{name} must be a number, got {value!r}") from None


def build_params(fields: dict[str, Any], ks: tuple[int, ...], settings: Settings) -> JobParams:
    """Build the validated parameters from the request's fields."""
    target_psnr = parse_number("target_psnr", fields.get("target_psnr"), float)
    if not ks and target_psnr is None:
        ks = defaults.DEFAULT_KS
    return JobParams(
        k=ks,
        dither=parse_bool("dither", fields.get("dither", False)),
        space=str(fields.get("space") or "rgb"),
        target_psnr=target_psnr,
        seed=parse_number("seed", fields.get("seed"), int) or 0,
        format=str(fields.get("format") or "png"),
        max_k_values=settings.max_k_values,
    )


def parse_upload(request: Request, settings: Settings) -> Submission:
    """Read a multipart form with an `image` file."""
    file = request.files.get("image")
    if file is None:
        raise MissingImage("send the picture as the multipart field `image`")
    params = build_params(request.form.to_dict(), parse_ks(request.form.getlist("k")), settings)
    data = file.read()
    return Submission(params, probe_image(data, settings.max_pixels), upload=data)


def parse_source(request: Request, settings: Settings, read: Any) -> Submission:
    """Read a JSON body naming an image already in storage; `read(key)` fetches it."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidJson("the body must be a JSON object")
    source = body.get("source")
    if not isinstance(source, str):
        raise InvalidParameter("`source` must be the key of an image in storage")
    prefix = settings.source_prefix
    if not check_key(source).startswith(prefix):
        raise InvalidParameter(f"`source` must be under {prefix!r}", code="invalid_source")
    k = body.get("k", [])
    params = build_params(body, parse_ks(k if isinstance(k, list) else [k]), settings)
    info = probe_image(read(source), settings.max_pixels)
    return Submission(params, info, source_key=source)


def parse_submission(request: Request, settings: Settings, read: Any) -> Submission:
    """Validate a job request of either kind before anything is stored or enqueued."""
    if request.mimetype == "multipart/form-data":
        return parse_upload(request, settings)
    if request.is_json:
        return parse_source(request, settings, read)
    raise UnsupportedMediaType("send multipart/form-data with an `image`, or JSON with `source`")
