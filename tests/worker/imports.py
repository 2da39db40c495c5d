"""Steps shared by the worker tests that import orders."""

from apps.orders import services as orders
from apps.orders.imports import services
from apps.orders.models import OrderImport
from tests.orders.imports import csv_bytes, generated_rows, upload


def import_started(owner, rows: int) -> OrderImport:
    """Upload a file of `rows` rows (two per order) as `owner`; a worker
    takes it from the queue."""
    orders.products_seed_demo()
    return services.order_import_start(
        owner=owner, file=upload(csv_bytes(generated_rows(rows)))
    )
