"""Thumbnails of an uploaded image, made by a worker from one decode.

- Reduced decoding: a JPEG is decoded at the smallest of its built-in scales
  (1/2, 1/4, 1/8) whose long edge still covers the largest thumbnail
  (`draft`), and a resize by 4x or more shrinks by a whole factor first
  (`reducing_gap`): a 12-megapixel JPEG never exists in memory at full
  size.
- Orientation: the EXIF orientation is applied to the pixels, colours in
  another profile than sRGB are converted to sRGB, and then no metadata at
  all is kept (EXIF and its GPS position, XMP, comments, ICC).
- Fresh encodings: each thumbnail is encoded anew from pixels, so nothing of
  the uploaded bytes (a PNG that is also an HTML page, say) reaches a file
  we serve: JPEG for an opaque picture (encoding a WebP costs 40 times as
  much, more than the rest of the work), WebP for one with transparency.
- Each file is written under a temporary name and moved into place.

The sizes cascade: the 480 is made from the 1280, the 160 from the 480.
"""

import io
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from uuid import uuid4

from PIL import Image, ImageCms, ImageFile, ImageOps

# Long edge, in pixels, of each thumbnail, largest first.
SIZES = (1280, 480, 160)
QUALITY = 82


class ImageUnreadable(Exception):
    """The stored image cannot be decoded (truncated or corrupt)."""


@dataclass(frozen=True)
class Thumbnail:
    size: int  # The long edge asked for.
    path: Path
    width: int
    height: int
    bytes: int


def make_thumbnails(source: Path, folder: Path, stem: str) -> list[Thumbnail]:
    """Write a thumbnail of `source` for each size in SIZES, as
    folder/<stem>-<size>.jpg (or .webp); return them, largest first."""
    try:
        with _truncated_images_refused(), Image.open(source) as image:
            # Decode at a reduced scale whose long edge still covers the
            # largest size (turning by the EXIF swaps the edges, not which
            # one is long): asking for a square would keep a panorama whole.
            image.draft("RGB", _long_edge_box(image.size, SIZES[0]))
            image.load()
            # Formats with no reduced decoding (PNG, WebP): shrink by a whole
            # factor at once, before any copy is made of the full picture.
            factor = max(image.size) // (SIZES[0] * 2)
            if factor > 1 and image.mode in ("RGB", "RGBA", "L", "LA"):
                image = image.reduce(factor)
            # In place: a copy of the decoded picture only if it must turn.
            ImageOps.exif_transpose(image, in_place=True)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageUnreadable(str(exc)) from exc
    picture = _without_metadata(_in_srgb(image))
    extension = "webp" if picture.mode == "RGBA" else "jpg"
    made = []
    for size in SIZES:
        # Bicubic, not Lanczos: after the reduced decode the remaining
        # shrink is small; measured against a Lanczos of the full-size
        # decode, the two filters come out the same, and bicubic costs two
        # thirds as much. (Narrower filters, bilinear or Hamming, cost less
        # again but blur thin lines or alias fine patterns.)
        picture.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
        made.append(_write(picture, size, folder / f"{stem}-{size}.{extension}"))
    return made


def _long_edge_box(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    """`size` scaled so that its long edge is `long_edge`."""
    longest = max(size)
    return tuple(max(1, side * long_edge // longest) for side in size)


@contextmanager
def _truncated_images_refused():
    """Make Pillow fail on a truncated image, as it does by default.

    WeasyPrint, which the same worker imports for PDFs, switches Pillow's
    global LOAD_TRUNCATED_IMAGES on, which turns a truncated upload into a
    thumbnail half grey. A worker process runs one task at a time.
    """
    saved = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _in_srgb(image: Image.Image) -> Image.Image:
    """The pixels converted to sRGB when the file carries another colour
    profile (a phone's Display P3, a CMYK print profile).

    The thumbnails carry no profile, and browsers show an untagged image as
    sRGB: dropping a P3 profile alone would dull every colour. A broken
    profile leaves the pixels as they are.
    """
    icc = image.info.get("icc_profile")
    if not icc or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "sRGB" in ImageCms.getProfileDescription(profile):
            return image  # Already what browsers assume.
        return ImageCms.profileToProfile(
            image,
            profile,
            ImageCms.createProfile("sRGB"),
            outputMode="RGBA" if image.mode == "RGBA" else "RGB",
        )
    except (OSError, ImageCms.PyCMSError):
        return image


def _without_metadata(image: Image.Image) -> Image.Image:
    """The pixels alone, as RGB, or RGBA when the image has transparency (an
    alpha channel, a palette entry or a colour key)."""
    has_alpha = image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info
    if image.mode.startswith("I"):
        # 16-bit grey: to 8 bits by scale, not by clipping at 255 (white).
        image = image.point(lambda value: value * (1 / 256)).convert("L")
    mode = "RGBA" if has_alpha else "RGB"
    # convert() copies even to the same mode; a decoded JPEG is RGB already.
    pixels = image if image.mode == mode else image.convert(mode)
    pixels.info = {}
    return pixels


def _write(picture: Image.Image, size: int, path: Path) -> Thumbnail:
    # Into the image's own folder, which the upload made: never made again
    # here, so an image deleted meanwhile leaves no folder behind.
    temporary = path.with_name(f".{path.name}.{uuid4().hex}.part")
    try:
        # Only these options: no exif=, icc_profile= or xmp= is passed on.
        if picture.mode == "RGBA":
            picture.save(temporary, "WEBP", quality=QUALITY, method=4)
        else:
            # Optimised Huffman tables make a file 6% smaller for a second
            # pass over it: nearly free on the small sizes, up to a third of
            # the resize's cost on the largest.
            optimize = size != SIZES[0]
            picture.save(temporary, "JPEG", quality=QUALITY, optimize=optimize)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return Thumbnail(size, path, picture.width, picture.height, path.stat().st_size)
