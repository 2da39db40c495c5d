"""What an import gives back as CSV: the sample file, and the rejected rows
of an import, each with its row number and why, in the file's own columns,
safe to open in a spreadsheet."""

import csv
from collections.abc import Iterator
from datetime import timedelta

from django.utils import timezone

from apps.orders import selectors
from apps.orders.imports import upload
from apps.orders.models import OrderImport

# What the page says of each column.
COLUMN_HELP = [
    ("external_id", True, "Your own id for the order; rows sharing it form one order."),
    (
        "ordered_at",
        True,
        "ISO 8601 date or date-time: 2024-05-31 or 2024-05-31T14:30:00Z.",
    ),
    ("sku", True, "An active product's SKU."),
    ("quantity", True, "A whole number from 1 to 1000."),
    ("unit_price", False, "Two decimals, positive; empty for the catalogue price."),
    ("status", False, "paid or awaiting_payment (the default)."),
]


def sample_rows() -> list[list[str]]:
    """A header and a few rows over real products: a file that imports."""
    products = list(selectors.products_for_sale()[:2])
    day = (timezone.localdate() - timedelta(days=1)).isoformat()
    rows = [[name for name, _, _ in COLUMN_HELP]]
    if products:
        first, second = products[0], products[-1]
        rows += [
            ["A-1001", day, first.sku, "2", "", "paid"],
            ["A-1001", day, second.sku, "1", f"{second.price}", "paid"],
            ["A-1002", f"{day}T09:30:00Z", first.sku, "5", "", "awaiting_payment"],
        ]
    return rows


def neutralise(cell: str) -> str:
    """Make a text cell that a spreadsheet would run as a formula plain text
    (rows.read_rows reads it back as it was)."""
    return "'" + cell if cell.startswith(upload.FORMULA_STARTS) else cell


class _Echo:
    """A file whose write returns what it was given, for a streamed csv.writer."""

    def write(self, value):
        return value


def rejected_rows_csv(order_import: OrderImport) -> Iterator[str]:
    writer = csv.writer(_Echo())
    # A BOM, so that Excel reads the file as UTF-8.
    yield "\ufeff" + writer.writerow(
        list(upload.IGNORED_COLUMNS) + [neutralise(c) for c in order_import.header]
    )
    for rejection in order_import.rejections.order_by("row_number").iterator(
        chunk_size=2000
    ):
        yield writer.writerow(
            [str(rejection.row_number), neutralise(rejection.reason)]
            + [neutralise(str(cell)) for cell in rejection.values]
        )
