"""Steps shared by the tests of the CSV import."""

import csv
import io

from django.core.files.uploadedfile import SimpleUploadedFile

HEADER = ["external_id", "ordered_at", "sku", "quantity", "unit_price", "status"]


def csv_bytes(rows, header=HEADER, *, bom=False) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode()


def upload(data: bytes, name="orders.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="text/csv")


def generated_rows(count: int, *, prefix="G", skus=("MUG-01", "TEE-01")):
    """`count` rows, two lines per order."""
    return [
        [f"{prefix}-{n // 2}", "2024-05-01", skus[n % 2], "1", "", "paid"]
        for n in range(count)
    ]
