"""Object storage: one small interface, a local directory backend and an S3 backend."""

from __future__ import annotations

import abc
import functools
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import urlparse

import boto3
import botocore.exceptions
from botocore.config import Config

from kcolors.errors import (
    InvalidConfiguration,
    InvalidParameter,
    ObjectNotFound,
    StorageUnavailable,
)
from kcolors.jobs.settings import Settings

# boto3's "standard" retry mode backs off with jitter on throttling and 5xx answers.
S3_MAX_ATTEMPTS = 4
S3_CONNECT_TIMEOUT_SECONDS = 3
S3_READ_TIMEOUT_SECONDS = 30
EXPECT_CONTINUE_MIN_BYTES = 2 * 1024 * 1024
P = ParamSpec("P")
R = TypeVar("R")
MAX_KEY_BYTES = 1024  # S3's limit
# Every file system's limit on one name (ext4, XFS, APFS, NTFS): a longer part of a key would
# reach local storage as `File name too long`, so no backend takes one.
MAX_KEY_PART_BYTES = 255


def check_key(key: str) -> str:
    """Return `key` if it is a safe relative object key, else raise `InvalidParameter`."""
    parts = key.split("/")
    unsafe = not key or key.startswith("/") or "\\" in key or len(key.encode()) > MAX_KEY_BYTES
    # Control characters (NUL above all) are refused: no file system or S3 server agrees on them.
    unsafe = unsafe or any(ord(c) < 32 or ord(c) == 127 for c in key)
    unsafe = unsafe or any(len(p.encode()) > MAX_KEY_PART_BYTES for p in parts)
    if unsafe or any(p in ("", ".", "..") for p in parts):
        raise InvalidParameter(
            f"invalid object key {key[:100]!r}: a relative path of at most {MAX_KEY_BYTES} "
            f"bytes whose parts are 1 to {MAX_KEY_PART_BYTES} bytes, not `.` or `..`, with no "
            "backslash or control character",
            code="invalid_key",
        )
    return key


class Storage(abc.ABC):
    """Keys are relative paths like `jobs/<id>/k16.png`; values are whole objects as bytes."""

    @abc.abstractmethod
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Store `data` at `key`, replacing any object already there, all at once."""

    @abc.abstractmethod
    def get(self, key: str) -> bytes:
        """Return the object at `key`, or raise `ObjectNotFound`."""

    @abc.abstractmethod
    def copy(self, source: str, target: str) -> None:
        """Store a copy of the object at `source` at `target`; `ObjectNotFound` if none."""

    @abc.abstractmethod
    def exists(self, key: str) -> bool:
        """Tell whether an object is stored at `key`."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object at `key`; removing a missing object is not an error."""

    @abc.abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Return every key starting with `prefix`, sorted."""

    @abc.abstractmethod
    def url(
        self,
        key: str,
        expires: int,
        download_name: str | None = None,
        content_type: str | None = None,
    ) -> str | None:
        """Return a URL that reads `key` for `expires` seconds, or None if there is none.

        With `download_name`, the URL answers as an attachment saved under that name; with
        `content_type`, it answers with that type, whatever the object was stored with.
        """

    @abc.abstractmethod
    def check(self) -> None:
        """Raise `StorageUnavailable` unless the storage answers."""


class LocalStorage(Storage):
    """A directory; each object is written to a temporary name and renamed into place."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()

    def path(self, key: str) -> Path:
        """Return the file that holds `key`."""
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        # The temporary file lives beside the target, so the rename stays on one filesystem
        # and is atomic: a reader sees the old object or the new one, never half of one.
        fd, temporary = tempfile.mkstemp(
            dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectNotFound(f"no object at {key!r}") from None

    def copy(self, source: str, target: str) -> None:
        self.put(target, self.get(source))

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> list[str]:
        # Walk only the deepest directory the prefix names, not the whole store.
        directory = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not directory.is_dir():
            return []
        keys = []
        for dirpath, _dirnames, filenames in os.walk(directory):
            for name in filenames:
                if name.startswith("."):  # temporary files of writes in progress
                    continue
                key = Path(dirpath, name).relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    keys.append(key)
        return sorted(keys)

    def url(
        self,
        key: str,
        expires: int,
        download_name: str | None = None,
        content_type: str | None = None,
    ) -> None:
        return None

    def check(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise StorageUnavailable(f"storage directory {self.root} is not writable")


_S3_MISSING = {"404", "NoSuchKey", "NotFound"}


def _translate_s3_errors(
    method: Callable[Concatenate[S3Storage, P], R],
) -> Callable[Concatenate[S3Storage, P], R]:
    """Turn boto3's connection and server errors into our domain errors."""

    @functools.wraps(method)
    def wrapper(self: S3Storage, *args: P.args, **kwargs: P.kwargs) -> R:
        key = args[0] if args else kwargs.get("key", kwargs.get("prefix", ""))
        try:
            return method(self, *args, **kwargs)
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _S3_MISSING:
                raise ObjectNotFound(f"no object at {key!r}") from None
            raise StorageUnavailable(f"storage error on {key!r}: {code}") from exc
        except (botocore.exceptions.BotoCoreError, ConnectionError) as exc:
            raise StorageUnavailable(f"storage unreachable: {exc}") from exc

    return wrapper  # type: ignore[return-value]  # functools.wraps keeps the signature


def _expect_continue_if_large(request: Any, **_: Any) -> None:
    """Drop botocore's `Expect: 100-continue` from small uploads.

    Waiting for the server's `100 Continue` before sending the body costs a round trip on every
    write; it pays only for bodies large enough to be worth not sending to a server that would
    refuse them. The AWS SDK for Go sends it from 2 MiB; so do we.
    """
    length = int(request.headers.get("Content-Length") or 0)
    if length < EXPECT_CONTINUE_MIN_BYTES and "Expect" in request.headers:
        del request.headers["Expect"]


class S3Storage(Storage):
    """A bucket (and key prefix) on any S3-compatible server, credentials from `AWS_*`."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        endpoint_url: str | None = None,
        public_url: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        config = Config(
            retries={"mode": "standard", "max_attempts": S3_MAX_ATTEMPTS},
            connect_timeout=S3_CONNECT_TIMEOUT_SECONDS,
            read_timeout=S3_READ_TIMEOUT_SECONDS,
            signature_version="s3v4",
            # Checksums only where S3 requires them: less CPU per object, and S3-compatible
            # servers that predate the newer checksum headers keep working.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, config=config)
        self.client.meta.events.register("before-send.s3.PutObject", _expect_continue_if_large)
        # Presigned URLs are signed for the host in them: where clients reach the server under
        # another name than the workers do (a compose network's `minio:9000`), a second client
        # signs them for that name. Signing is local: this client never connects.
        self.signer = (
            boto3.session.Session().client("s3", endpoint_url=public_url, config=config)
            if public_url
            else self.client
        )

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    @_translate_s3_errors
    def put(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=content_type
        )

    @_translate_s3_errors
    def get(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"].read()
        return body

    @_translate_s3_errors
    def copy(self, source: str, target: str) -> None:
        # Server-side: the bytes never come through this process.
        self.client.copy_object(
            Bucket=self.bucket,
            Key=self._key(target),
            CopySource={"Bucket": self.bucket, "Key": self._key(source)},
        )

    @_translate_s3_errors
    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except botocore.exceptions.ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code", "")) in _S3_MISSING:
                return False
            raise
        return True

    @_translate_s3_errors
    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    @_translate_s3_errors
    def list(self, prefix: str = "") -> list[str]:
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", []))
        return sorted(keys)

    @_translate_s3_errors
    def url(
        self,
        key: str,
        expires: int,
        download_name: str | None = None,
        content_type: str | None = None,
    ) -> str:
        params = {"Bucket": self.bucket, "Key": self._key(key)}
        if download_name:
            params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
        if content_type:
            params["ResponseContentType"] = content_type
        return self.signer.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)

    def check(self) -> None:
        try:
            self._check_bucket(self.bucket)
        except ObjectNotFound:
            raise StorageUnavailable(f"bucket {self.bucket!r} does not exist") from None

    @_translate_s3_errors
    def _check_bucket(self, bucket: str) -> None:
        self.client.head_bucket(Bucket=bucket)


def storage_from_url(
    url: str, s3_endpoint_url: str | None = None, s3_public_url: str | None = None
) -> Storage:
    """Open `file:///path` (or `file://./relative`) or `s3://bucket/prefix`."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(parsed.netloc + parsed.path if parsed.netloc else parsed.path)
    if parsed.scheme == "s3" and parsed.netloc:
        return S3Storage(
            parsed.netloc, parsed.path, endpoint_url=s3_endpoint_url, public_url=s3_public_url
        )
    raise InvalidConfiguration(
        f"storage URL {url!r} is neither file:///path nor s3://bucket/prefix"
    )


@functools.lru_cache(maxsize=8)
def open_storage(settings: Settings) -> Storage:
    """Return the storage the settings name; cached, since an S3 client is costly to build."""
    return storage_from_url(settings.storage_url, settings.s3_endpoint_url, settings.s3_public_url)
