"""Turn a job or batch request (multipart or JSON) into validated parameters and images."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Request

from kcolors.engine.params import QuantizeParams
from kcolors.engine.probe import ProbedImage
from kcolors.errors import InvalidJson, InvalidParameter, MissingImage, UnsupportedMediaType
from kcolors.jobs.creation import probe
from kcolors.jobs.settings import Settings
from kcolors.jobs.storage import check_key


@dataclass(frozen=True)
class Submission:
    """A validated request: parameters, the image's bytes and header, and where it is stored."""

    params: QuantizeParams
    probed: ProbedImage
    data: bytes
    source_key: str | None = None  # None: an upload, stored with the job


def form_params(request: Request, settings: Settings) -> QuantizeParams:
    """Read the parameters of a multipart request: every field but the files, `k` repeatable."""
    fields: dict[str, Any] = request.form.to_dict()
    fields["k"] = request.form.getlist("k")
    return QuantizeParams.parse(fields, settings.max_k_values)


def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, or raise `InvalidJson`."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidJson("the body must be a JSON object")
    return body


def json_params(body: dict[str, Any], settings: Settings, *, besides: str) -> QuantizeParams:
    """Read the parameters of a JSON body whose other field is `besides` (source, prefix)."""
    return QuantizeParams.parse(
        {name: value for name, value in body.items() if name != besides}, settings.max_k_values
    )


def parse_upload(request: Request, settings: Settings) -> Submission:
    """Read a multipart form with an `image` file."""
    file = request.files.get("image")
    if file is None:
        raise MissingImage("send the picture as the multipart field `image`")
    params = form_params(request, settings)
    data = file.read()
    return Submission(params, probe(data, settings), data)


def source_key(value: Any, settings: Settings, field: str = "source") -> str:
    """Check a client's storage key (or prefix) is one the service may read."""
    prefix = settings.source_prefix
    if isinstance(value, str):
        check_key(value.rstrip("/") or ".")
    if not isinstance(value, str) or not value.startswith(prefix):
        raise InvalidParameter(
            f"`{field}` must be a storage key under {prefix!r}", code="invalid_source"
        )
    return value


def parse_source(request: Request, settings: Settings, read: Callable[[str], bytes]) -> Submission:
    """Read a JSON body naming an image already in storage; `read(key)` fetches it."""
    body = json_body(request)
    key = source_key(body.get("source"), settings)
    params = json_params(body, settings, besides="source")
    data = read(key)
    return Submission(params, probe(data, settings), data, source_key=key)


def parse_submission(
    request: Request, settings: Settings, read: Callable[[str], bytes]
) -> Submission:
    """Validate a job request of either kind before anything is stored or enqueued."""
    if request.mimetype == "multipart/form-data":
        return parse_upload(request, settings)
    if request.is_json:
        return parse_source(request, settings, read)
    raise UnsupportedMediaType("send multipart/form-data with an `image`, or JSON with `source`")
