"""The batch part of the OpenAPI document (`web/batches.py`)."""

from __future__ import annotations

from typing import Any

from web.openapi_parts import (
    ERROR_OR_NULL,
    IDEMPOTENCY_KEY,
    KEY_IN_FLIGHT,
    NULLABLE_STRING,
    REPLAYED_HEADER,
    ULID,
    error_response,
    json_response,
    schema_ref,
)

BATCH_ID = {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "string"}}

BATCH_SCHEMAS: dict[str, Any] = {
    "BatchItem": {
        "type": "object",
        "required": ["name", "key", "job_id", "error"],
        "properties": {
            "name": {"type": "string"},
            "key": {"type": "string"},
            "job_id": NULLABLE_STRING,
            "error": ERROR_OR_NULL,
            "duplicate_of": {"type": "string"},
        },
    },
    "Batch": {
        "type": "object",
        "required": ["id", "params", "source", "items", "created_at", "expanded_at", "summary"],
        "properties": {
            "id": ULID,
            "params": schema_ref("Params"),
            "source": {
                "oneOf": [
                    {"type": "object", "required": ["prefix"]},
                    {"type": "object", "required": ["uploads"]},
                ]
            },
            "items": {"type": "array", "items": schema_ref("BatchItem")},
            "created_at": {"type": "string", "format": "date-time"},
            "expanded_at": NULLABLE_STRING,
            "summary": schema_ref("BatchSummary"),
        },
    },
    "BatchSummary": {
        "type": "object",
        "required": [
            "status",
            "total",
            "queued",
            "running",
            "succeeded",
            "failed",
            "reused",
            "progress",
        ],
        "properties": {
            "status": {"enum": ["queued", "running", "finished"]},
            "cancelled_at": {"type": ["string", "null"]},
            "progress": {"type": "number", "minimum": 0, "maximum": 1},
            **{
                name: {"type": "integer", "minimum": 0}
                for name in (
                    "total",
                    "queued",
                    "running",
                    "succeeded",
                    "failed",
                    "cancelled",
                    "reused",
                )
            },
        },
    },
    "BatchReport": {
        "type": "object",
        "required": ["batch", "summary", "rows"],
        "properties": {
            "batch": {"type": "string"},
            "summary": schema_ref("BatchSummary"),
            "rows": {"type": "array", "items": {"type": "object", "required": ["name", "k"]}},
        },
    },
}

BATCH_PATHS: dict[str, Any] = {
    "/api/batches": {
        "post": {
            "summary": "Submit many images (a storage prefix as JSON, or several uploads) and k",
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": "see openapi.request_body()",
            "responses": {
                "202": {
                    **json_response("accepted; `Location` names the batch", "Batch"),
                    "headers": {"Idempotent-Replayed": REPLAYED_HEADER},
                },
                "400": error_response("malformed request, or a malformed Idempotency-Key"),
                "409": KEY_IN_FLIGHT,
                "401": error_response("no valid token (with KCOLORS_API_TOKENS)"),
                "413": error_response("too many images, or one too large"),
                "415": error_response("unsupported media type or image format"),
                "422": error_response(
                    "invalid parameter, empty prefix, unreadable image, or an Idempotency-Key "
                    "used before for another request"
                ),
                "429": {
                    **error_response("too many submissions from this client (KCOLORS_RATE_LIMIT)"),
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                },
                "503": error_response("broker or storage unavailable"),
            },
        }
    },
    "/api/batches/{batch_id}": {
        "delete": {
            "summary": "Cancel the batch: every job of it that has not finished",
            "parameters": [BATCH_ID],
            "responses": {
                "202": json_response("cancelled", "Batch"),
                "401": error_response("no valid token (with KCOLORS_API_TOKENS)"),
                "404": error_response("unknown batch"),
                "409": error_response("the batch finished already"),
                "503": error_response("broker or storage unavailable"),
            },
        },
        "get": {
            "summary": "The batch document with its aggregate progress",
            "parameters": [BATCH_ID],
            "responses": {
                "200": json_response("the batch", "Batch"),
                "404": error_response("unknown batch"),
            },
        },
    },
    "/api/batches/{batch_id}/report.json": {
        "get": {
            "summary": "Every image's statistics, one row per image and k",
            "parameters": [BATCH_ID],
            "responses": {
                "200": json_response("report", "BatchReport"),
                "404": error_response("unknown batch"),
            },
        }
    },
    "/api/batches/{batch_id}/report.csv": {
        "get": {
            "summary": "The same report as CSV",
            "parameters": [BATCH_ID],
            "responses": {
                "200": {"description": "CSV with a header line", "content": {"text/csv": {}}},
                "404": error_response("unknown batch"),
            },
        }
    },
}
