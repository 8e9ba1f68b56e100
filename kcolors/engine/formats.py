"""The one table of input formats: what the header probe accepts, the decoder reads, and the
service stores an upload as."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputFormat:
    """An accepted input: its name in statistics, the stored file's extension, its media type."""

    name: str
    extension: str
    media_type: str


# Keyed by Pillow's format name. MPO is how Pillow names many camera and phone JPEGs (a JPEG
# with a second, multi-picture frame); the first frame is the picture.
INPUT_FORMATS = {
    "PNG": InputFormat("png", "png", "image/png"),
    "JPEG": InputFormat("jpeg", "jpg", "image/jpeg"),
    "MPO": InputFormat("jpeg", "jpg", "image/jpeg"),
    "WEBP": InputFormat("webp", "webp", "image/webp"),
    "GIF": InputFormat("gif", "gif", "image/gif"),
    "BMP": InputFormat("bmp", "bmp", "image/bmp"),
    "TIFF": InputFormat("tiff", "tiff", "image/tiff"),
}
# Leading bytes of the accepted formats: an unreadable file that starts so is damaged, not foreign.
SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF", b"II*\x00", b"MM\x00*")
# For messages and pages: "PNG, JPEG, WebP, GIF, BMP, TIFF".
FORMAT_NAMES = "PNG, JPEG, WebP, GIF, BMP, TIFF"


def input_format(pillow_format: str | None) -> InputFormat | None:
    """The accepted format Pillow named, or None."""
    return INPUT_FORMATS.get(pillow_format or "")
