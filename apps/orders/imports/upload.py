"""The checks an orders CSV passes before it is stored: run by the web process
on the whole upload, streamed. Nothing here touches the database."""

import codecs
import csv
import io
from dataclasses import dataclass
from typing import BinaryIO

from django.conf import settings

REQUIRED_COLUMNS = ("external_id", "ordered_at", "sku", "quantity")
OPTIONAL_COLUMNS = ("unit_price", "status")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
# The rejected-rows file adds these in front; an upload ignores them, so that
# file can be fixed and uploaded as it is.
IGNORED_COLUMNS = ("rejected_row", "rejected_reason")
# A cell starting with one of these runs as a formula in a spreadsheet: that
# file puts a ' in front of it (as a spreadsheet does, which hides it), and
# the worker takes it off again, so the fixed file imports the same values.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CHUNK = 64 * 1024
FIX_ENCODING = (
    'Save it as "CSV UTF-8" (in Excel: File › Save As › CSV UTF-8; in '
    'LibreOffice: tick "Edit filter settings" and pick UTF-8) and upload it again.'
)


class FileRefused(Exception):
    """The file cannot be imported at all; the message says why and what to do."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class UploadSummary:
    header: list[str]
    total_rows: int


def check_upload(file: BinaryIO) -> UploadSummary:
    """Check a whole uploaded file, streamed: UTF-8 text without NUL bytes,
    a header naming the columns we expect, and no more rows than the cap.

    Raises FileRefused with a message for the person who uploaded it.
    """
    file.seek(0)
    head = file.read(CHUNK)
    if not head.strip():
        raise FileRefused("The file is empty. Upload a CSV file with a header row.")
    _refuse_binary(head)
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines, offset, chunk, last = 0, 0, head, b""
    while chunk:
        # Lines end in \n, \r\n or (old Macs) a lone \r.
        newlines += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
        if last.endswith(b"\r") and chunk.startswith(b"\n"):
            newlines -= 1  # A \r\n cut in two by the chunks.
        if b"\x00" in chunk:
            raise FileRefused(
                f"The file has a NUL byte at byte {offset + chunk.index(0):,}: it is "
                "not a text file. " + FIX_ENCODING
            )
        # The decoder keeps a character cut by the chunk's edge for the next
        # chunk: an error's position counts from those bytes.
        pending = decoder.getstate()[0]
        try:
            decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise FileRefused(
                _not_utf8(exc, offset - len(pending), pending + chunk)
            ) from exc
        offset += len(chunk)
        last = chunk
        chunk = file.read(CHUNK)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise FileRefused(
            "The file ends in the middle of a character: it is not UTF-8 text. "
            + FIX_ENCODING
        ) from exc
    lines = newlines + (0 if last.endswith((b"\n", b"\r")) else 1)
    total_rows = max(0, lines - 1)  # Roughly: a quoted cell may hold a newline.
    if total_rows > settings.IMPORT_MAX_ROWS:
        raise FileRefused(
            f"The file has about {total_rows:,} rows; we import at most "
            f"{settings.IMPORT_MAX_ROWS:,} at a time. Split it and upload the parts."
        )
    file.seek(0)
    header = read_header(file)
    file.seek(0)
    if total_rows == 0:
        raise FileRefused("The file has a header but no rows of orders.")
    return UploadSummary(header=header, total_rows=total_rows)


def _refuse_binary(head: bytes) -> None:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise FileRefused("The file is UTF-16 text, not UTF-8. " + FIX_ENCODING)
    if head.startswith(b"PK\x03\x04"):
        raise FileRefused(
            "The file is a spreadsheet (.xlsx) or a zip archive, not CSV text. "
            'Open it and save it as "CSV UTF-8".'
        )
    if head.startswith(b"%PDF"):
        raise FileRefused("The file is a PDF, not CSV text.")


def _not_utf8(exc: UnicodeDecodeError, offset: int, data: bytes) -> str:
    """Say where the first byte that is not UTF-8 is; `data`, where decoding
    failed, starts at byte `offset` of the file."""
    position = offset + exc.start
    line = data[: exc.start].count(b"\n") + 1 if offset == 0 else None
    where = f"line {line}" if line else f"byte {position:,}"
    byte = data[exc.start]
    return (
        f"The file is not UTF-8 text: byte 0x{byte:02X} on {where} is not valid "
        "UTF-8, so the file was probably saved as Latin-1 or Windows-1252. "
        + FIX_ENCODING
    )


def read_header(file: BinaryIO) -> list[str]:
    """The header row, after checking it names the columns we expect."""
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    try:
        header = next(csv.reader(text), [])
    except csv.Error as exc:
        raise FileRefused(
            f"The header row is not valid CSV ({exc}): a quote left open?"
        ) from exc
    finally:
        text.detach()  # Leave the binary file open for the caller.
    columns_of(header)
    return header


def columns_of(header: list[str]) -> dict[str, int]:
    """{column: its index}, matching names in any case and order; FileRefused
    naming every missing and unknown column at once."""
    names = [name.strip().lower() for name in header]
    index = {}
    repeated = []
    for position, name in enumerate(names):
        if name in index:
            repeated.append(name)
        index.setdefault(name, position)
    missing = [name for name in REQUIRED_COLUMNS if name not in index]
    unknown = [
        header[i].strip() or f"(column {i + 1} has no name)"
        for i, n in enumerate(names)
        if n not in COLUMNS + IGNORED_COLUMNS
    ]
    problems = []
    if missing:
        problems.append("missing " + ", ".join(missing))
    if unknown:
        problems.append("unknown " + ", ".join(unknown))
    if repeated:
        problems.append("repeated " + ", ".join(sorted(set(repeated))))
    if problems:
        raise FileRefused(
            "The header row does not match: "
            + "; ".join(problems)
            + ". Expected the columns "
            + ", ".join(REQUIRED_COLUMNS)
            + ", and optionally "
            + ", ".join(OPTIONAL_COLUMNS)
            + ", in any order and any case."
        )
    return index
