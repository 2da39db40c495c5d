"""Images made for the upload tests: photos with EXIF, and bad files."""

import io
import random
import struct
import zlib

from PIL import Image, ImageCms, ImageDraw

ORIENTATION, GPS_INFO, USER_COMMENT = 0x0112, 0x8825, 0x9286


def photo(width=800, height=600, *, orientation=1, gps=True, fmt="JPEG") -> bytes:
    """A photo-like image with EXIF (orientation, a GPS position), XMP and a
    comment; its top-left quarter red, the rest blue, so a rotation shows."""
    image = Image.new("RGB", (width, height), (20, 60, 200))
    image.paste((220, 30, 30), (0, 0, width // 2, height // 2))
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    if gps:
        exif.get_ifd(GPS_INFO).update({1: "N", 2: (48.0, 51.0, 30.0), 3: "E"})
    out = io.BytesIO()
    options = {"exif": exif.tobytes()}
    if fmt == "JPEG":
        options |= {"comment": b"shot at home", "xmp": b"<x:xmpmeta>secret</x:xmpmeta>"}
    image.save(out, fmt, **options)
    return out.getvalue()


def detailed_photo(width=4000, height=3000) -> bytes:
    """A JPEG with smooth gradients, hard-edged discs, thin lines, and
    patches of 2-pixel checks and 3-pixel stripes: a resampling filter that
    blurs or aliases shows in it."""
    rng = random.Random(7)
    ramp = Image.linear_gradient("L").resize((width, height))
    turned = ramp.transpose(Image.Transpose.ROTATE_90).resize((width, height))
    image = Image.merge("RGB", (ramp, turned, ramp.point(lambda v: 255 - v)))
    draw = ImageDraw.Draw(image)
    for _ in range(60):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(10, 300)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour)
    for _ in range(200):
        x, y = rng.randrange(width), rng.randrange(height)
        end = (x + rng.randrange(-200, 200), y + rng.randrange(-200, 200))
        draw.line((x, y, *end), fill=(255, 255, 255), width=2)
    patch = (width // 5, height // 5)
    on, off = b"\xff\xff\x00\x00", b"\x00\x00\xff\xff"
    rows = (on * (patch[0] // 4)) * 2 + (off * (patch[0] // 4)) * 2
    checks = Image.frombytes("L", patch, rows * (patch[1] // 4))
    stripes = Image.frombytes(
        "L", patch, (b"\xff" * 3 + b"\x00" * 3) * (patch[0] * patch[1] // 6)
    )
    image.paste(checks.convert("RGB"), (0, 0))
    image.paste(stripes.convert("RGB"), (width - patch[0], height - patch[1]))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def png_with_alpha(width=300, height=200) -> bytes:
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.paste((10, 200, 10, 255), (50, 50, 150, 150))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` × `height` and holds one tiny IDAT:
    the shape of a decompression bomb, without the bomb."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _chunk(b"IEND", b"")
    )


def png_html_polyglot() -> bytes:
    """A valid PNG that a browser sniffing it would also take for HTML."""
    image = Image.new("RGB", (40, 30), (200, 200, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    html = b"<html><script>alert(document.cookie)</script></html>"
    data = out.getvalue()
    # After the signature and IHDR, a text chunk holding the page.
    return data[:33] + _chunk(b"tEXt", b"comment\x00" + html) + data[33:]


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("P", (10, 10)).save(out, "GIF")
    return out.getvalue()


def mpo() -> bytes:
    """A JPEG carrying a second picture, as many phones save: Pillow's MPO."""
    out = io.BytesIO()
    first = Image.new("RGB", (64, 48), (200, 20, 20))
    first.save(out, "MPO", save_all=True, append_images=[Image.new("RGB", (32, 24))])
    return out.getvalue()


def grey_16_bit() -> bytes:
    """A 16-bit grey PNG at a quarter of full scale."""
    out = io.BytesIO()
    Image.new("I;16", (64, 48), 16448).save(out, "PNG")
    return out.getvalue()


def colour_keyed_png() -> bytes:
    """An RGB PNG whose pure red is transparent (a tRNS colour key)."""
    out = io.BytesIO()
    image = Image.new("RGB", (64, 48), (255, 0, 0))
    image.paste((0, 0, 255), (0, 0, 32, 48))
    image.save(out, "PNG", transparency=(255, 0, 0))
    return out.getvalue()


def red_and_blue_swapped_profile() -> bytes:
    """An ICC profile that is sRGB with the red and blue primaries swapped,
    named without "sRGB": pixels stored as pure red mean blue."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    data = data.replace("sRGB".encode("utf-16-be"), "Swap".encode("utf-16-be"))
    count = struct.unpack(">I", data[128:132])[0]
    entries = {}
    for number in range(count):
        start = 132 + 12 * number
        entries[bytes(data[start : start + 4])] = start
    red, blue = entries[b"rXYZ"], entries[b"bXYZ"]
    data[red + 4 : red + 12], data[blue + 4 : blue + 12] = (
        data[blue + 4 : blue + 12],
        data[red + 4 : red + 12],
    )
    return bytes(data)


def red_jpeg_with_profile(profile: bytes) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), (255, 0, 0)).save(
        buffer, "JPEG", quality=95, icc_profile=profile
    )
    return buffer.getvalue()
