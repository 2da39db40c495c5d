"""Reading the rows of a stored orders CSV, streamed, in a worker: each row
checked on its own (`parse_row`), and the rows of one order gathered
(`OrderGroup`). Nothing here touches the database."""

import csv
import functools
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import BinaryIO

from django.conf import settings
from django.utils import timezone

from apps.orders.imports import upload
from apps.orders.imports.upload import FIX_ENCODING, FileRefused

STATUSES = ("paid", "awaiting_payment")
MAX_QUANTITY = 1000
MAX_PRICE = Decimal("99999999.99")  # What OrderLine.unit_price holds.
EXTERNAL_ID_MAX = 64  # Order.external_id's column.
# Longer than any real cell of an orders file: a field past it means the
# file is not what it claims (or a quote was left open), so reading stops.
FIELD_MAX = 10_000
# Orders older than this are taken for typing errors (and very old dates do
# not survive every database's and Python's date arithmetic).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
# Lines of one order: its rows are held in memory until the order is whole.
MAX_LINES = 1000
# What an order's total can hold (Order.total: 12 digits, 2 decimals).
MAX_TOTAL = Decimal("9999999999.99")


def read_rows(file: BinaryIO) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) for each row after the header, streamed.

    Row numbers are a spreadsheet's: the header is row 1. A cell reads as
    a spreadsheet shows it: "'-5" is "-5" (see `unneutralised`). Raises
    FileRefused for a file that stops being readable part-way (bytes that
    are not UTF-8, a NUL byte, a field past FIELD_MAX, more rows than the
    cap).
    """
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    previous_limit = csv.field_size_limit(FIELD_MAX)
    number = 1
    try:
        reader = csv.reader(text)
        next(reader, None)  # The header, checked at upload.
        for cells in reader:
            number += 1
            if number - 1 > settings.IMPORT_MAX_ROWS:
                raise FileRefused(
                    f"The file has more than {settings.IMPORT_MAX_ROWS:,} rows; "
                    "the rows up to there were read. Split the file."
                )
            if cells:  # A blank line is no row.
                if any(cell[:1] == "'" for cell in cells):
                    cells = [unneutralised(cell) for cell in cells]
                yield number, cells
    except UnicodeDecodeError as exc:
        raise FileRefused(
            f"Reading stopped after row {number:,}: the next bytes are not UTF-8. "
            + FIX_ENCODING
        ) from exc
    except csv.Error as exc:
        problem = (
            "it holds a NUL byte"
            if "NUL" in str(exc)
            else f"a cell is longer than {FIELD_MAX:,} characters (a quote left open?)"
            if "field larger" in str(exc)
            else f"it is not valid CSV ({exc})"
        )
        raise FileRefused(f"Reading stopped at row {number + 1:,}: {problem}.") from exc
    finally:
        csv.field_size_limit(previous_limit)
        text.detach()


def unneutralised(cell: str) -> str:
    """The cell without the ' that the rejected-rows file (export.neutralise)
    or a spreadsheet put before a formula's first character."""
    if cell[:1] == "'" and cell[1:].startswith(upload.FORMULA_STARTS):
        return cell[1:]
    return cell


def external_id_of(cells: list[str], columns: dict[str, int]) -> str:
    """The row's order, as the file names it (even when the row is invalid)."""
    position = columns["external_id"]
    return cells[position].strip() if position < len(cells) else ""


@dataclass(frozen=True)
class Line:
    """One valid row: a line of an order."""

    external_id: str
    ordered_at: datetime
    status: str
    sku: str
    quantity: int
    unit_price: Decimal | None  # None: the catalogue's price.


class RowInvalid(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def parse_row(
    cells: list[str], columns: dict[str, int], products: dict, *, width: int
) -> Line:
    """The row as a Line, or RowInvalid naming every problem it has.

    `products` maps each SKU to its product (active or not); `width` is the
    header's number of cells.
    """

    def cell(name):
        position = columns.get(name)
        if position is None or position >= len(cells):
            return ""
        return cells[position].strip()

    problems = []
    if len(cells) != width:
        # A cell too many or too few: the values may sit in the wrong columns
        # (a decimal comma, "12,50", splits a price in two).
        problems.append(
            f"it has {len(cells)} cells where the header has {width}; a value "
            "with a comma must be in double quotes"
        )
    external_id = cell("external_id")
    if not external_id:
        problems.append("external_id is empty")
    elif len(external_id) > EXTERNAL_ID_MAX:
        problems.append(f"external_id is longer than {EXTERNAL_ID_MAX} characters")

    ordered_at = None
    try:
        ordered_at = parse_when(cell("ordered_at"))
    except ValueError as exc:
        problems.append(str(exc))

    sku = cell("sku")
    product = products.get(sku)
    if not sku:
        problems.append("sku is empty")
    elif product is None:
        problems.append(f"sku {sku!r} is not in the catalogue")
    elif not product.is_active:
        problems.append(f"sku {sku!r} is no longer sold")

    quantity = None
    raw = cell("quantity")
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_QUANTITY:
        quantity = int(raw)
    else:
        problems.append(f"quantity {raw!r} is not a whole number from 1 to 1000")

    unit_price = None
    raw = cell("unit_price")
    if raw:
        unit_price = parse_price(raw)
        if unit_price is None:
            problems.append(
                f"unit_price {raw!r} is not a positive amount with at most two "
                "decimals, like 12.50"
            )

    status = cell("status").lower() or "awaiting_payment"
    if status not in STATUSES:
        problems.append(f"status {cell('status')!r} is not paid or awaiting_payment")

    if problems:
        # Column names start the sentences, as the file spells them.
        raise RowInvalid("; ".join(problems) + ".")
    return Line(external_id, ordered_at, status, sku, quantity, unit_price)


# Plain digits and at most two decimals: no exponent ("1e3"), sign, or
# digit group separator, which Decimal() would take.
PRICE = re.compile(r"[0-9]+(\.[0-9]{1,2})?")


def parse_price(raw: str) -> Decimal | None:
    """A positive amount like 12.50; else None."""
    if not PRICE.fullmatch(raw):
        return None
    price = Decimal(raw)
    return price if 0 < price <= MAX_PRICE else None


def parse_when(raw: str) -> datetime:
    """An ISO 8601 date or date-time; a date, or a time without a zone, is
    read in the site's time zone."""
    if not raw:
        raise ValueError("ordered_at is empty")
    when = _parsed_when(raw)
    if when > timezone.now() + timedelta(days=1):
        raise ValueError(f"ordered_at {raw!r} is in the future")
    if when < EARLIEST:
        raise ValueError(f"ordered_at {raw!r} is before {EARLIEST.year}")
    return when


# Most files repeat a few dates thousands of times: parse each once.
@functools.lru_cache(maxsize=4096)
def _parsed_when(raw: str) -> datetime:
    try:
        if len(raw) <= 10:
            when = datetime.combine(date.fromisoformat(raw), time())
        else:
            when = datetime.fromisoformat(raw)
        when = timezone.make_aware(when) if timezone.is_naive(when) else when
        # In UTC, as stored: 0001-01-01T00:30+01:00 is out of range there.
        return when.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(
            f"ordered_at {raw!r} is not an ISO 8601 date or date-time, like "
            "2024-05-31 or 2024-05-31T14:30:00+02:00"
        ) from None


@dataclass
class OrderGroup:
    """The rows of one order (consecutive rows sharing an external_id).

    An order's rows wait in memory until it is whole, so an order has at most
    MAX_LINES lines: past them the group is `full`, and the reader goes on
    with a `continued` group, whose rows are all rejected with it.
    """

    external_id: str
    continued: bool = False
    rows: list[tuple[int, list[str]]] = field(default_factory=list)
    lines: list[tuple[int, Line]] = field(default_factory=list)
    # {row number: why}, for rows with a problem of their own.
    errors: dict[int, str] = field(default_factory=dict)

    def add(self, number: int, cells: list[str], line: Line | None, error: str):
        self.rows.append((number, cells))
        if self.continued or len(self.rows) > MAX_LINES:
            line, error = (
                None,
                (
                    f"Order {self.external_id!r} has more than {MAX_LINES:,} lines, "
                    "the most we import in one order."
                ),
            )
        elif line is not None and self.lines:
            first_row, first = self.lines[0]
            if (line.ordered_at, line.status) != (first.ordered_at, first.status):
                line, error = (
                    None,
                    (
                        f"Its ordered_at or status differs from row {first_row:,} "
                        f"of the same order {self.external_id!r}; the rows of one "
                        "order must agree."
                    ),
                )
        if line is None:
            self.errors[number] = error
        else:
            self.lines.append((number, line))

    @property
    def full(self) -> bool:
        return len(self.rows) > MAX_LINES

    @property
    def is_valid(self) -> bool:
        return not self.errors

    def reject(self, reason: str) -> None:
        """Hold the whole order back for `reason` (given to its first row)."""
        self.errors.setdefault(self.rows[0][0], reason)

    def reject_every_row(self, reason: str) -> None:
        """Hold the whole order back for `reason`, given to each of its rows
        (after a row's own problem)."""
        for number, _ in self.rows:
            own = self.errors.get(number)
            self.errors[number] = f"{own} {reason}" if own else reason

    def rejections(self) -> list[tuple[int, list[str], str]]:
        """Every row of the order, each with why it was not imported: never
        half an order."""
        first_bad = min(self.errors)
        return [
            (
                number,
                cells,
                self.errors.get(number)
                or f"Not imported with its order {self.external_id!r}: row "
                f"{first_bad:,} of it has a problem.",
            )
            for number, cells in self.rows
        ]
