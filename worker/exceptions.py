"""Every domain error, each with a stable `code` shown by the API and the job document."""


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


class InvalidConfiguration(KcolorsError):
    code = "invalid_configuration"


class UnsupportedFormat(KcolorsError):
    code = "unsupported_format"
    http_status = 415


class ImageTooLarge(KcolorsError):
    code = "image_too_large"
    http_status = 413


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


class BrokerUnavailable(KcolorsError):
    code = "broker_unavailable"
    http_status = 503
