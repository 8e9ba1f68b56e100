"""The one table of input formats: what the header probe accepts, the decoder reads, and the
service stores an upload as."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class InputFormat:
    """An accepted input: its name in statistics, the stored file's extension, its media type,
    and its name in messages and pages."""

    name: str
    extension: str
    media_type: str
    label: str


# Keyed by Pillow's format name. MPO is how Pillow names many camera and phone JPEGs (a JPEG
# with a second, multi-picture frame); the first frame is the picture. HEIF is read by the
# pillow-heif plugin (HEVC-coded, as phones write it: HEIC), AVIF by Pillow's own plugin.
INPUT_FORMATS = {
    "PNG": InputFormat("png", "png", "image/png", "PNG"),
    "JPEG": InputFormat("jpeg", "jpg", "image/jpeg", "JPEG"),
    "MPO": InputFormat("jpeg", "jpg", "image/jpeg", "JPEG"),
    "WEBP": InputFormat("webp", "webp", "image/webp", "WebP"),
    "GIF": InputFormat("gif", "gif", "image/gif", "GIF"),
    "BMP": InputFormat("bmp", "bmp", "image/bmp", "BMP"),
    "TIFF": InputFormat("tiff", "tiff", "image/tiff", "TIFF"),
    "HEIF": InputFormat("heic", "heic", "image/heic", "HEIC"),
    "AVIF": InputFormat("avif", "avif", "image/avif", "AVIF"),
}
# The formats every current browser draws in an <img> (and never runs): served inline, shown as
# they are. Any other input (HEIC, TIFF, BMP) gets a WebP preview made by the worker.
BROWSER_FORMATS = frozenset({"png", "jpeg", "webp", "gif", "avif"})
# Leading bytes of the accepted formats: an unreadable file that starts so is damaged, not foreign.
SIGNATURES = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"RIFF", b"II*\x00", b"MM\x00*")
# HEIC and AVIF are ISO media files: a box `ftyp` at byte 4, then the major brand. mif1 and msf1
# are the brands of the image container itself, written by both.
HEIC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs")
AVIF_BRANDS = (b"avif", b"avis")
CONTAINER_BRANDS = (b"mif1", b"msf1")
# For messages and pages: "PNG, JPEG, WebP, GIF, BMP, TIFF, HEIC, AVIF".
FORMAT_NAMES = ", ".join(dict.fromkeys(found.label for found in INPUT_FORMATS.values()))
# The upload form's `accept`: the media types, and the extensions too, for systems that know no
# media type for .heic or .avif files (their pickers would hide them).
FORM_ACCEPT = ",".join(
    dict.fromkeys(
        [*(found.media_type for found in INPUT_FORMATS.values())]
        + [f".{found.extension}" for found in INPUT_FORMATS.values()]
    )
)


def input_format(pillow_format: str | None) -> InputFormat | None:
    """The accepted format Pillow named, or None."""
    return INPUT_FORMATS.get(pillow_format or "")


def format_named(name: str | None) -> InputFormat | None:
    """The format a job document names (`png`, `jpeg`, `heic`, ...: `InputFormat.name`), or
    None for a name kcolors never wrote."""
    return next((found for found in INPUT_FORMATS.values() if found.name == name), None)


def media_brand(data: bytes) -> bytes | None:
    """The major brand of an ISO media file (HEIC, AVIF, MP4, ...), or None."""
    return data[8:12] if data[4:8] == b"ftyp" else None


def may_be_heic(data: bytes) -> bool:
    """Whether the file says it is HEIF, so that the HEIC plugin must be ready to read it."""
    return media_brand(data) in (*HEIC_BRANDS, *CONTAINER_BRANDS)


def has_accepted_signature(data: bytes) -> bool:
    """Whether the file starts like an accepted format (an unreadable one is then damaged)."""
    brand = media_brand(data)
    if brand is not None:
        return brand in (*HEIC_BRANDS, *AVIF_BRANDS, *CONTAINER_BRANDS)
    return data.startswith(SIGNATURES)
