"""The OpenAPI 3.1 description of the JSON API; tests validate real responses against it."""

from __future__ import annotations

import copy
import functools
import re
from typing import Any

from kcolors.defaults import MAX_LIST_LIMIT, MAX_WAIT_SECONDS
from kcolors.engine.formats import FORMAT_NAMES
from kcolors.engine.params import QuantizeParams
from kcolors.jobs.settings import Settings
from web.openapi_batches import BATCH_PATHS, BATCH_SCHEMAS
from web.openapi_fields import request_fields
from web.openapi_parts import (
    ERROR_OR_NULL,
    ERROR_SCHEMAS,
    IDEMPOTENCY_KEY,
    KEY_IN_FLIGHT,
    NULLABLE_STRING,
    REPLAYED_HEADER,
    ULID,
    error_response,
    json_response,
    schema_ref,
)

ETAG_HEADER = {"description": "the document's version", "schema": {"type": "string"}}
JOB_ID = {"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}
# What web/files.py serves: a picture type kcolors decoded, or an attachment of opaque bytes.
SERVED_TYPES = ("application/octet-stream", "image/png", "image/jpeg", "image/webp", "image/gif",
                "image/avif")  # fmt: skip
BINARY = {"type": "string", "format": "binary"}
IMAGE = {
    "description": "the image: inline as the picture type kcolors decoded it as, else an "
    "attachment of application/octet-stream (web/files.py)",
    "content": {media_type: {"schema": BINARY} for media_type in SERVED_TYPES},
}
IMAGE_OR_REDIRECT = {"200": IMAGE, "302": {"description": "redirect to a presigned URL"}}

SCHEMAS: dict[str, Any] = {
    "Result": {
        "type": "object",
        "required": ["k", "key", "url", "bytes", "distinct_colors", "psnr", "palette"],
        "properties": {
            "k": {"type": "integer"},
            "key": {"type": "string"},
            "url": {"type": "string"},
            "format": {"type": "string"},
            "bytes": {"type": "integer"},
            "bytes_before_optimize": {
                "type": "integer",
                "description": "with optimize: the size before oxipng recompressed it",
            },
            "distinct_colors": {"type": "integer"},
            "compression_ratio": {"type": "number"},
            "truecolor_png_bytes": {"type": "integer"},
            "psnr": {"type": ["number", "null"]},
            "palette": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["hex", "share"],
                    "properties": {
                        "hex": {"type": "string", "pattern": "^#[0-9a-f]{6}$"},
                        "share": {"type": "number"},
                    },
                },
            },
            "timings": {"type": "object", "additionalProperties": {"type": "number"}},
            "auto": {"type": "boolean", "description": "the output chosen for target_psnr"},
            "target_psnr": {"type": "number"},
            "target_reached": {
                "type": "boolean",
                "description": "false: no k up to 256 reaches the target; this is the best",
            },
            "search_psnr": {
                "type": ["number", "null"],
                "description": "PSNR the search measured (undithered); null when lossless",
            },
            "search_steps": {"type": "integer", "description": "fits the auto-k search made"},
        },
    },
    "Job": {
        "type": "object",
        "required": [
            "id",
            "status",
            "progress",
            "created_at",
            "started_at",
            "finished_at",
            "attempts",
            "params",
            "input",
            "results",
            "error",
            "timings",
        ],
        "properties": {
            "id": ULID,
            "status": {"enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
            "progress": {"type": "number", "minimum": 0, "maximum": 1},
            "created_at": {"type": "string", "format": "date-time"},
            "started_at": NULLABLE_STRING,
            "finished_at": NULLABLE_STRING,
            "attempts": {"type": "integer", "minimum": 0},
            "params": schema_ref("Params"),
            "input": {
                "type": "object",
                "required": ["key", "format", "width", "height", "bytes"],
                "properties": {
                    "key": {"type": "string"},
                    "format": {"type": "string"},
                    "width": {"type": "integer"},
                    "height": {"type": "integer"},
                    "bytes": {"type": "integer"},
                    "name": {
                        "type": "string",
                        "description": "the picture's file name, when the form or a batch "
                        "gave one (the form's: last path part, no control characters, at most "
                        "200 characters)",
                    },
                },
            },
            "stage": {
                "type": "string",
                "description": "what the worker is doing, in words, while the job runs",
            },
            "results": {"type": "array", "items": schema_ref("Result")},
            "timings": {
                "type": "object",
                "description": "seconds the worker spent in the engine and in storage",
                "additionalProperties": {"type": "number"},
            },
            "reused": {
                "type": "boolean",
                "description": "born finished with copies of identical work's outputs (same "
                "bytes, same parameters); it never ran",
            },
            "error": ERROR_OR_NULL,
        },
    },
    "JobList": {
        "type": "object",
        "required": ["jobs"],
        "properties": {"jobs": {"type": "array", "items": schema_ref("Job")}},
    },
    "Status": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"const": "ok"}},
    },
}

PATHS: dict[str, Any] = {
    "/api/jobs": {
        "post": {
            "summary": "Submit an image (multipart) or a stored source (JSON) and k values",
            "parameters": [IDEMPOTENCY_KEY],
            "requestBody": "see request_bodies()",
            "responses": {
                "202": {
                    **json_response("accepted; `Location` names the job", "Job"),
                    "headers": {"ETag": ETAG_HEADER, "Idempotent-Replayed": REPLAYED_HEADER},
                },
                "400": error_response("malformed request, or a malformed Idempotency-Key"),
                "409": KEY_IN_FLIGHT,
                "401": error_response("no valid token (with KCOLORS_API_TOKENS)"),
                "404": error_response("the `source` object does not exist"),
                "413": error_response("upload or image too large"),
                "415": error_response("unsupported media type or image format"),
                "422": error_response(
                    "invalid parameter, unreadable image, more work than one job may ask, or an "
                    "Idempotency-Key used before for another request"
                ),
                "429": {
                    **error_response("too many submissions from this client (KCOLORS_RATE_LIMIT)"),
                    "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                },
                "503": error_response("broker or storage unavailable"),
            },
        },
        "get": {
            "summary": "The most recent jobs, newest first",
            "parameters": [
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT},
                }
            ],
            "responses": {
                "200": json_response("jobs (with tokens, the client's own)", "JobList"),
                "401": error_response("no valid token (with KCOLORS_API_TOKENS)"),
                "422": error_response("bad limit"),
            },
        },
    },
    "/api/jobs/{job_id}": {
        "delete": {
            "summary": "Cancel the job",
            "description": (
                "A queued job ends `cancelled` at once (answered in this response). A running "
                "one stops at its next output and ends `cancelled` with the outputs made so "
                "far: follow it with GET. A finished job answers 409."
            ),
            "parameters": [JOB_ID],
            "responses": {
                "202": json_response("cancelled, or asked to stop", "Job"),
                "401": error_response("no valid token (with KCOLORS_API_TOKENS)"),
                "404": error_response("unknown job"),
                "409": error_response("the job finished already"),
                "503": error_response("broker or storage unavailable"),
            },
        },
        "get": {
            "summary": "The job document",
            "description": (
                "Every answer carries the document's ETag. Send it back in If-None-Match to get "
                "304 while nothing changed; add `wait` to have the answer held until the job "
                "changes (one request per change instead of a poll every moment)."
            ),
            "parameters": [
                JOB_ID,
                {
                    "name": "wait",
                    "in": "query",
                    "required": False,
                    "description": (
                        "seconds to wait for a change of an unfinished job whose ETag is in "
                        "If-None-Match; answered at once when the server has no free slot"
                    ),
                    "schema": {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
                },
                {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                "200": {**json_response("the job", "Job"), "headers": {"ETag": ETAG_HEADER}},
                "304": {"description": "unchanged", "headers": {"ETag": ETAG_HEADER}},
                "422": error_response("wait is not a number of seconds in range"),
                "404": error_response("unknown job"),
            },
        },
    },
    "/api/jobs/{job_id}/results/{k}": {
        "get": {
            "summary": "The output image for k",
            "parameters": [
                JOB_ID,
                {"name": "k", "in": "path", "required": True, "schema": {"type": "integer"}},
                {
                    "name": "download",
                    "in": "query",
                    "required": False,
                    "description": "any non-empty value: answer as an attachment to save",
                    "schema": {"type": "string"},
                },
            ],
            "responses": {
                **IMAGE_OR_REDIRECT,
                "404": error_response("unknown job or no such result"),
            },
        }
    },
    "/api/jobs/{job_id}/results.zip": {
        "get": {
            "summary": "Every output made so far, in one zip (`photo.k16.png`, ...)",
            "parameters": [JOB_ID],
            "responses": {
                "200": {
                    "description": "a zip attachment",
                    "content": {"application/octet-stream": {"schema": BINARY}},
                },
                "404": error_response("unknown job or no output yet"),
            },
        }
    },
    "/api/jobs/{job_id}/preview": {
        "get": {
            "summary": "The input as a browser shows it (a WebP preview of HEIC, TIFF, BMP)",
            "parameters": [JOB_ID],
            "responses": {**IMAGE_OR_REDIRECT, "404": error_response("unknown job")},
        }
    },
    "/api/jobs/{job_id}/input": {
        "get": {
            "summary": "The input image",
            "parameters": [JOB_ID],
            "responses": {**IMAGE_OR_REDIRECT, "404": error_response("unknown job")},
        }
    },
    "/healthz": {
        "get": {"summary": "Liveness", "responses": {"200": json_response("alive", "Status")}}
    },
    "/readyz": {
        "get": {
            "summary": "Readiness: broker and storage reachable",
            "responses": {
                "200": json_response("ready", "Status"),
                "503": error_response("not ready"),
            },
        }
    },
}


# Every operation's name in generated clients (`create_job`, `get_job`, ...) and its group.
OPERATIONS: dict[tuple[str, str], tuple[str, str]] = {
    ("/api/jobs", "post"): ("createJob", "jobs"),
    ("/api/jobs", "get"): ("listJobs", "jobs"),
    ("/api/jobs/{job_id}", "get"): ("getJob", "jobs"),
    ("/api/jobs/{job_id}", "delete"): ("cancelJob", "jobs"),
    ("/api/jobs/{job_id}/results/{k}", "get"): ("getResult", "jobs"),
    ("/api/jobs/{job_id}/results.zip", "get"): ("getResultsZip", "jobs"),
    ("/api/jobs/{job_id}/preview", "get"): ("getPreview", "jobs"),
    ("/api/jobs/{job_id}/input", "get"): ("getInput", "jobs"),
    ("/api/batches", "post"): ("createBatch", "batches"),
    ("/api/batches/{batch_id}", "get"): ("getBatch", "batches"),
    ("/api/batches/{batch_id}", "delete"): ("cancelBatch", "batches"),
    ("/api/batches/{batch_id}/report.json", "get"): ("getBatchReport", "batches"),
    ("/api/batches/{batch_id}/report.csv", "get"): ("getBatchReportCsv", "batches"),
    ("/healthz", "get"): ("getHealth", "health"),
    ("/readyz", "get"): ("getReadiness", "health"),
}
TAGS = [
    {"name": "jobs", "description": "one picture, its k-colour versions and their statistics"},
    {"name": "batches", "description": "many pictures, one job each, one report"},
    {"name": "health", "description": "liveness and readiness, for load balancers"},
]


def params_schema() -> dict[str, Any]:
    """The parameters as job and batch documents show them: the model's own JSON Schema."""
    schema = QuantizeParams.model_json_schema(mode="serialization")
    return {**schema, "required": list(QuantizeParams.model_fields)}


def request_body(settings: Settings, name: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A job or batch request: multipart with images, or JSON naming stored images (`name`)."""
    source = {
        "type": "string",
        "pattern": f"^{re.escape(settings.source_prefix)}",
        "description": "a storage key (or prefix) under the server's KCOLORS_SOURCE_PREFIX",
    }
    fields = request_fields(settings)
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {"image": schema, **fields},
                },
                "encoding": {"k": {"style": "form", "explode": True}},
            },
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": [name],
                    "additionalProperties": False,
                    "properties": {name: source, **fields},
                }
            },
        },
    }


# Any operation: the HTTP server (gunicorn, or nginx in front of it) refuses a request line over
# its limit (gunicorn's 4,094 bytes) before the app sees the request, with a plain-text body.
URI_TOO_LONG = {"description": "the request line (path and query) is longer than the server takes"}


@functools.cache
def openapi_document(settings: Settings) -> dict[str, Any]:
    """Return the OpenAPI document of a server with these settings."""
    paths = copy.deepcopy({**PATHS, **BATCH_PATHS})
    image = {"type": "string", "format": "binary", "description": f"a picture: {FORMAT_NAMES}"}
    paths["/api/jobs"]["post"]["requestBody"] = request_body(settings, "source", image)
    images = {"type": "array", "items": image}
    paths["/api/batches"]["post"]["requestBody"] = request_body(settings, "prefix", images)
    for (path, method), (operation_id, tag) in OPERATIONS.items():
        paths[path][method] |= {"operationId": operation_id, "tags": [tag]}
    for operations in paths.values():
        for operation in operations.values():
            operation["responses"].setdefault("414", URI_TOO_LONG)
    return {
        "openapi": "3.1.0",
        "info": {"title": "kcolors", "version": "1"},
        "tags": TAGS,
        "paths": paths,
        "components": {
            "schemas": {**ERROR_SCHEMAS, **SCHEMAS, **BATCH_SCHEMAS, "Params": params_schema()}
        },
    }
