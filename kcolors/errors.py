"""Every kcolors error, each with a stable `code` shown by the API, the job document and the CLI.

This module imports nothing, so that the engine, the job core, the web, the worker and the CLI
all raise and read the same classes."""


class KcolorsError(Exception):
    """Base of all kcolors errors: a stable code, a plain message and an HTTP status."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_dict(self) -> dict[str, str]:
        """Return the error as the JSON body `{"code": ..., "message": ...}`."""
        return {"code": self.code, "message": self.message}


class InvalidParameter(KcolorsError):
    code = "invalid_parameter"
    http_status = 422

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message, code=code)
        self.field = field  # the parameter at fault, when one is


class InvalidConfiguration(KcolorsError):
    code = "invalid_configuration"


class UnsupportedFormat(KcolorsError):
    code = "unsupported_format"
    http_status = 415


class ImageTooLarge(KcolorsError):
    code = "image_too_large"
    http_status = 413


class ImageTooComplex(KcolorsError):
    """A file whose structure no real encoder writes and that would take far longer to read
    than its size suggests (thousands of progressive scans, megabytes of metadata)."""

    code = "image_too_complex"
    http_status = 422


class WorkBudgetExceeded(KcolorsError):
    code = "work_budget_exceeded"
    http_status = 422


class RateLimited(KcolorsError):
    code = "rate_limited"
    http_status = 429


class TooManyFailedSignIns(KcolorsError):
    """Too many wrong tokens from one address, or for one token prefix: guessing is locked out
    for `retry_after` seconds."""

    code = "too_many_failures"
    http_status = 429

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CorruptImage(KcolorsError):
    code = "corrupt_image"
    http_status = 422


class EmptyImage(CorruptImage):
    code = "empty_image"


class JobNotFound(KcolorsError):
    code = "job_not_found"
    http_status = 404


class ObjectNotFound(KcolorsError):
    code = "object_not_found"
    http_status = 404


class StorageUnavailable(KcolorsError):
    code = "storage_unavailable"
    http_status = 503


class DocumentUnreadable(KcolorsError):
    """A stored job or batch document that is not one: truncated or damaged in storage."""

    code = "document_unreadable"
    http_status = 500


class BrokerUnavailable(KcolorsError):
    code = "broker_unavailable"
    http_status = 503


class JobFinished(KcolorsError):
    code = "job_finished"
    http_status = 409


class JobCancelled(KcolorsError):
    """Raised inside a running job when its client cancelled it: it stops at its next output."""

    code = "cancelled"
    http_status = 409


class InvalidTransition(KcolorsError):
    code = "invalid_transition"
    http_status = 409


class ResultNotFound(ObjectNotFound):
    code = "result_not_found"


class BatchNotFound(ObjectNotFound):
    code = "batch_not_found"


class UnsupportedMediaType(KcolorsError):
    code = "unsupported_media_type"
    http_status = 415


class MissingImage(KcolorsError):
    code = "missing_image"
    http_status = 400


class InvalidJson(KcolorsError):
    code = "invalid_json"
    http_status = 400


class EmptyBatch(KcolorsError):
    code = "empty_batch"
    http_status = 422


class BatchTooLarge(KcolorsError):
    code = "batch_too_large"
    http_status = 413


class Unauthorized(KcolorsError):
    code = "unauthorized"
    http_status = 401


class InvalidIdempotencyKey(KcolorsError):
    code = "invalid_idempotency_key"
    http_status = 400


class IdempotencyKeyReused(KcolorsError):
    """The key came before with a different request: a client bug, never replayed."""

    code = "idempotency_key_reused"
    http_status = 422


class IdempotencyKeyInFlight(KcolorsError):
    """The first request with this key is still being answered (here or on another web host)."""

    code = "idempotency_key_in_flight"
    http_status = 409
    retry_after = 1
