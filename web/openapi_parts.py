"""Pieces both halves of the OpenAPI document use (web/openapi.py, web/openapi_batches.py)."""

from __future__ import annotations

from typing import Any

NULLABLE_STRING = {"type": ["string", "null"]}
ULID = {"type": "string", "pattern": "^[0-9A-HJKMNP-TV-Z]{26}$"}


def schema_ref(name: str) -> dict[str, str]:
    """A reference to a schema of `components` (never into one: generators refuse that)."""
    return {"$ref": f"#/components/schemas/{name}"}


def error_response(description: str) -> dict[str, Any]:
    """A response whose body is the error document."""
    return {
        "description": description,
        "content": {"application/json": {"schema": schema_ref("Error")}},
    }


def json_response(description: str, schema_name: str) -> dict[str, Any]:
    """A response whose body is the JSON schema `schema_name`."""
    return {
        "description": description,
        "content": {"application/json": {"schema": schema_ref(schema_name)}},
    }


# A job's or an item's error: null, or the detail an error body carries.
ERROR_OR_NULL = {"anyOf": [schema_ref("ErrorDetail"), {"type": "null"}]}

ERROR_SCHEMAS: dict[str, Any] = {
    "ErrorDetail": {
        "type": "object",
        "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": schema_ref("ErrorDetail")},
    },
}

# Safe retries (web/idempotency.py): on the submitting routes.
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": (
        "Makes a retry safe: the same key from the same client with the same request within "
        "24 h answers the first response again (`Idempotent-Replayed: true`), on any web host"
    ),
    "schema": {"type": "string", "pattern": "^[ -~]{1,255}$"},
}
REPLAYED_HEADER = {
    "description": "`true` when this is the first response to this Idempotency-Key, again",
    "schema": {"type": "string", "enum": ["true"]},
}
KEY_IN_FLIGHT = {
    **error_response("the first request with this Idempotency-Key is still being answered"),
    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
}
