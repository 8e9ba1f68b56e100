"""What a client may ask for: the one parameter model of kcolors.

The API (multipart fields and JSON bodies), the form, batches, both CLI commands and the engine
all read parameters through `QuantizeParams`, and the OpenAPI document and the CLI options are
generated from its fields. A new parameter is a new field here, the engine code that uses it, a
form field and a line of docs.

Numbers must be plain: JSON numbers (never booleans) or ASCII digit strings. Unicode digits
(`²`, `٣`), exponents (`1e400`), underscores, NaN and infinities are refused, each with a
message naming the field and its range, never a 500.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from kcolors import defaults
from kcolors.errors import InvalidParameter

MIN_TARGET_PSNR_DB = 10.0
MAX_TARGET_PSNR_DB = 80.0
MAX_SEED = 2**32 - 1
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")
_WHOLE = re.compile(r"-?[0-9]+", re.ASCII)
_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)
_MAX_DIGITS = 30  # far beyond any range here; refuses megabyte-long digit strings cheaply

_PNG_ONLY = "applies to PNG outputs only"

KValue = Annotated[int, Field(ge=defaults.MIN_K, le=defaults.MAX_K)]


class QuantizeParams(BaseModel):
    """How to quantize one image; validated on construction, before anything is stored."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    k: tuple[KValue, ...] = Field(
        default=(),
        description=(
            f"numbers of colours, each from {defaults.MIN_K} to {defaults.MAX_K}: one output "
            "each (repeated or comma-separated); none: 2,5,10,15,24, or only the target_psnr output"
        ),
    )
    dither: bool = Field(default=False, description="Floyd-Steinberg dithering")
    space: Literal["rgb", "lab"] = Field(
        default="rgb", description="colour space of the clustering (lab: perceptual CIELAB)"
    )
    target_psnr: float | None = Field(
        default=None,
        ge=MIN_TARGET_PSNR_DB,
        le=MAX_TARGET_PSNR_DB,
        description="also make the output with the fewest colours reaching this PSNR (dB)",
    )
    seed: int = Field(default=0, ge=0, le=MAX_SEED, description="random seed of the clustering")
    format: Literal["png", "webp"] = Field(
        default="png", description="output format: indexed PNG or lossless WebP"
    )
    optimize: bool = Field(
        default=False,
        description=(
            "recompress PNG outputs losslessly with oxipng: the same pixels in fewer bytes, "
            "for more time (PNG only)"
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _default_ks(cls, data: Any) -> Any:
        """No k and no target: the article's choice of k."""
        no_target = isinstance(data, Mapping) and data.get("target_psnr") in (None, "")
        if no_target and not data.get("k"):
            return {**data, "k": defaults.DEFAULT_KS}
        return data

    @model_validator(mode="after")
    def _some_output(self) -> QuantizeParams:
        if not self.k and self.target_psnr is None:
            raise ValueError("give at least one k value, or a target_psnr")
        return self

    @field_validator("k", mode="before")
    @classmethod
    def _read_ks(cls, value: Any, info: ValidationInfo) -> tuple[int, ...]:
        """Accept JSON integers or digit strings, repeated or comma-separated; sort, dedupe."""
        items = value if isinstance(value, list | tuple) else [value]
        ks = []
        for item in items:
            parts = item.split(",") if isinstance(item, str) else [item]
            ks += [whole_number(p) for p in parts if not (isinstance(p, str) and not p.strip())]
        unique = tuple(sorted(set(ks)))
        limit = (info.context or {}).get("max_k_values")
        if limit is not None and len(unique) > limit:
            raise ValueError(f"at most {limit} k values per job, got {len(unique)}")
        return unique

    @field_validator("seed", mode="before")
    @classmethod
    def _read_whole(cls, value: Any) -> int:
        return whole_number(value)

    @field_validator("target_psnr", mode="before")
    @classmethod
    def _read_decimal(cls, value: Any) -> float | None:
        if value is None or value == "":
            return None
        return decimal_number(value)

    @field_validator("dither", "optimize", mode="before")
    @classmethod
    def _read_bool(cls, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
            return value.strip().lower() in TRUE_WORDS
        raise ValueError(f"not a boolean: {shorten(value)}")

    @field_validator("space", "format", mode="before")
    @classmethod
    def _read_word(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("optimize")
    @classmethod
    def _optimize_png_only(cls, value: bool, info: ValidationInfo) -> bool:
        # Lossless WebP is already compressed by libwebp's own search; refusing says so, where
        # ignoring the option would leave the client wondering why nothing changed.
        if value and info.data.get("format", "png") != "png":
            raise ValueError(f"{_PNG_ONLY}, not to format {info.data['format']}")
        return value

    @classmethod
    def parse(cls, fields: Mapping[str, Any], max_k_values: int | None = None) -> QuantizeParams:
        """Validate fields from JSON, a form or the command line; raise `InvalidParameter`."""
        given = {name: value for name, value in fields.items() if value is not None}
        if given.get("space") == "" or given.get("format") == "":  # an empty form choice
            given = {n: v for n, v in given.items() if not (n in ("space", "format") and v == "")}
        context = {"max_k_values": max_k_values} if max_k_values is not None else None
        try:
            return cls.model_validate(given, context=context)
        except ValidationError as exc:
            raise invalid_parameter(exc) from None

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as stored in the job document and shown by the API."""
        return {**self.model_dump(), "k": list(self.k)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QuantizeParams:
        """Rebuild stored parameters as they were validated when the job was made (under the
        rules of that day: a document stored before a range changed must still load)."""
        known = {name: data[name] for name in cls.model_fields if name in data}
        return cls.model_construct(**{**known, "k": tuple(known.get("k") or ())})


def whole_number(value: Any) -> int:
    """A JSON integer or a string of ASCII digits; nothing else (no bool, float or `²`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and len(value) <= _MAX_DIGITS and _WHOLE.fullmatch(value.strip()):
        return int(value.strip())
    raise ValueError(f"not a whole number: {shorten(value)}")


def decimal_number(value: Any) -> float:
    """A finite JSON number or a plain decimal string (`35`, `38.5`); nothing else."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value) if abs(value) < 1e300 else math.inf
    elif isinstance(value, str) and len(value) <= _MAX_DIGITS and _DECIMAL.fullmatch(value.strip()):
        number = float(value.strip())
    else:
        raise ValueError(f"not a plain number: {shorten(value)}")
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {shorten(value)}")
    return number


def shorten(value: Any, limit: int = 40) -> str:
    """The repr of a client's value, cut to `limit` characters for messages."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def field_rule(name: str) -> str:
    """Say in words what a field accepts, from the model's own constraints."""
    schema = QuantizeParams.model_json_schema()["properties"][name]
    schema = schema.get("items", schema)
    if "anyOf" in schema:
        schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
    if "enum" in schema:
        return "one of " + ", ".join(schema["enum"])
    if schema.get("type") == "boolean":
        return "true or false"
    kind = "a whole number" if schema.get("type") == "integer" else "a number"
    if name == "k":
        kind = "whole numbers, each"
    return f"{kind} from {plain(schema['minimum'])} to {plain(schema['maximum'])}"


def plain(number: float) -> str:
    """`4294967295`, `10`, `38.5`: a bound as people write it."""
    return str(int(number)) if float(number).is_integer() else str(number)


def invalid_parameter(exc: ValidationError) -> InvalidParameter:
    """One `InvalidParameter` naming the first bad field, its rule and what was sent."""
    error = exc.errors(include_url=False)[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    reason = str(error.get("ctx", {}).get("error", ""))
    if name not in QuantizeParams.model_fields and error["type"] != "extra_forbidden":
        return InvalidParameter(reason or error["msg"])
    if error["type"] == "extra_forbidden":
        known = ", ".join(QuantizeParams.model_fields)
        return InvalidParameter(f"unknown parameter {shorten(name)}; the parameters are {known}")
    message = f"{name} must be {field_rule(name)}"
    if reason.startswith(("at most", _PNG_ONLY)):
        return InvalidParameter(f"{name}: {reason}", field=name)
    if "input" in error and error["type"] != "value_error":
        message += f", not {shorten(error['input'])}"
    elif reason:
        message += f" ({reason})"
    return InvalidParameter(message, field=name)
