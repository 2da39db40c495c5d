"""What the web process checks of an uploaded image before it stores or
queues anything: its size, what it is by its content, and its dimensions,
read from the header alone (nothing is decoded here).

The browser's content type and the file's extension are ignored: a PNG named
photo.jpg is a PNG, and an HTML page named cat.png is refused.
"""

import warnings
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from PIL import Image, UnidentifiedImageError

# What we take, as Pillow names the formats it finds in the bytes.
FORMATS = {"JPEG", "PNG", "WEBP"}
# A JPEG that carries a second picture (many phone photos: a depth map, a
# gain map) is a JPEG to us; Pillow calls it MPO.
SAME_AS = {"MPO": "JPEG"}
# Only these of Pillow's readers look at the uploaded bytes: a header parser
# of a format we refuse anyway is attack surface for nothing.
READERS = ("JPEG", "PNG", "WEBP")  # A JPEG reader also opens MPO.
# Formats people often try, named from their first bytes (no parser runs),
# so that the refusal can say what the file is.
OTHERS = (
    (0, b"GIF8", "GIF"),
    (0, b"BM", "BMP"),
    (0, b"II*\x00", "TIFF"),
    (0, b"MM\x00*", "TIFF"),
    (4, b"ftypheic", "HEIC"),
    (4, b"ftypheix", "HEIC"),
    (4, b"ftypmif1", "HEIF"),
    (4, b"ftypavif", "AVIF"),
)


class ImageRefused(Exception):
    """The file is not an image we take; `message` says why, for the user."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ImageHeader:
    format: str  # "JPEG", "PNG" or "WEBP".
    width: int
    height: int


def check_image(file: BinaryIO, *, name: str, size: int) -> ImageHeader:
    """The image's format and dimensions; ImageRefused if it is too big, not
    an image, not one of ours, or has more pixels than UPLOAD_MAX_PIXELS."""
    if size > settings.UPLOAD_MAX_BYTES:
        limit = settings.UPLOAD_MAX_BYTES
        # Two decimals when one would say "20.0 MB is over 20.0 MB".
        shown = (
            f"{size / 1024 / 1024:.2f} MB"
            if size < limit * 1.05
            else filesizeformat(size)
        )
        raise ImageRefused(
            f"{name} is {shown}; images may be up to {filesizeformat(limit)}."
        )
    if size == 0:
        raise ImageRefused(f"{name} is empty.")
    file.seek(0)
    try:
        # A header that claims more pixels than Pillow's own bomb limit makes
        # it warn, or raise; both are refusals here, before any decoding.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file, formats=READERS) as image:
                found = image.format or ""
                header = ImageHeader(SAME_AS.get(found, found), *image.size)
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise ImageRefused(_too_many_pixels(name)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ImageRefused(_unreadable(file, name)) from None
    finally:
        file.seek(0)
    if header.width * header.height > settings.UPLOAD_MAX_PIXELS:
        raise ImageRefused(_too_many_pixels(name, header))
    return header


def _too_many_pixels(name: str, header: ImageHeader | None = None) -> str:
    limit = settings.UPLOAD_MAX_PIXELS / 1_000_000
    found = (
        f" ({header.width:,} × {header.height:,}, "
        f"{header.width * header.height / 1_000_000:,.0f} megapixels)"
        if header
        else ""
    )
    return (
        f"{name} is too large an image{found}; we take up to {limit:,.0f} megapixels."
    )


def _unreadable(file: BinaryIO, name: str) -> str:
    file.seek(0)
    start = file.read(16)
    for offset, magic, kind in OTHERS:
        if start[offset : offset + len(magic)] == magic:
            return (
                f"{name} is a {kind} image; we take JPEG, PNG and WebP. "
                "Save it in one of those and upload it again."
            )
    return f"{name} is not an image we can read. Upload a JPEG, PNG or WebP file."
