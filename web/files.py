"""Serving stored files. An upload is the attacker's bytes: whatever its name or content, no
browser may run it as a page of this site.

- The type is never guessed from a key or a client's file name: it is the format kcolors itself
  decoded the file as (the job document's `format`), looked up in the one table of formats.
- Only the picture types a browser shows and never runs are served inline; anything else
  (HEIC, TIFF, BMP, ...) is an attachment, `application/octet-stream`.
- Every file response is `nosniff` and sandboxed by its own CSP, so a polyglot (a PNG that is
  also HTML) can only ever be drawn as a picture.
- On S3 the presigned URL fixes the same type and disposition; the file then comes from the
  storage's own origin, not this site's (docs/RELIABILITY.md, "Threat model").
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from flask import Response, redirect, send_file

from kcolors.engine.formats import BROWSER_FORMATS, INPUT_FORMATS, format_named
from kcolors.errors import ObjectNotFound
from kcolors.jobs.storage import LocalStorage
from web.services import get_settings, get_storage

# Decoded by kcolors as one of these, a file is a picture to a browser and nothing else.
INLINE_TYPES = frozenset(
    found.media_type for found in INPUT_FORMATS.values() if found.name in BROWSER_FORMATS
)
OPAQUE_TYPE = "application/octet-stream"
# As GitHub serves raw user content: no script, no plugin, no form, a unique origin.
FILE_POLICY = "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox"


def media_type(format_name: str | None) -> str:
    """The type to serve a stored file as: its decoded format's, or opaque bytes."""
    found = format_named(format_name)
    return found.media_type if found is not None else OPAQUE_TYPE


def header_safe_name(name: str) -> str:
    """A file name that every `Content-Disposition` parser reads the same: ASCII letters,
    digits, `.`, `_` and `-` only (a key's name is the client's choice)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "file"


def serve_file(key: str, format_name: str | None, download_name: str | None = None) -> Response:
    """Serve the object at `key`, stored as `format_name`: inline when it is a picture type a
    browser only draws and no `download_name` is asked for, else as an attachment."""
    content_type = media_type(format_name)
    if content_type not in INLINE_TYPES:
        content_type = OPAQUE_TYPE
        download_name = download_name or header_safe_name(PurePosixPath(key).name)
    storage = get_storage()
    if isinstance(storage, LocalStorage):
        path = storage.path(key)
        if not path.is_file():
            raise ObjectNotFound(f"no object at {key!r}")
        response = send_file(
            path,
            mimetype=content_type,
            max_age=0,
            as_attachment=download_name is not None,
            download_name=download_name,
        )
        response.headers["Content-Security-Policy"] = FILE_POLICY
        return response
    if not storage.exists(key):
        raise ObjectNotFound(f"no object at {key!r}")
    expires = get_settings().presign_expires
    url = storage.url(key, expires, download_name=download_name, content_type=content_type)
    return redirect(url, code=302)


def serve_archive(files: list[tuple[str, str]], download_name: str) -> Response:
    """Serve the objects `(name in the archive, key)` as one zip attachment. Stored, not
    deflated: the outputs are compressed pictures already, and a zip of them costs no CPU.
    Typed as opaque bytes, as every other attachment here (OpenAPI client generators know no
    `application/zip`); the `.zip` name tells what it is."""
    import io
    import zipfile

    storage, buffer = get_storage(), io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, key in files:
            archive.writestr(name, storage.get(key))
    buffer.seek(0)
    response = send_file(
        buffer, mimetype=OPAQUE_TYPE, as_attachment=True, download_name=download_name
    )
    response.headers["Content-Security-Policy"] = FILE_POLICY
    return response
