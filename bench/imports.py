"""
The CSV import of orders (apps.orders.imports) against the naive way, on one
database, and against the floor: what the database itself takes to load the
same rows.

- ours: the whole path from a file on disk: the upload's checks, then the
  worker's streamed reading in batches of whole orders, each written with
  COPY and one INSERT ... ON CONFLICT (PostgreSQL) or bulk_create (SQLite),
  with its counts, in one transaction.
- naive: the loop tutorials show: csv.DictReader over the file and, per row,
  Product.objects.get, Order.objects.get_or_create, OrderLine.objects.create
  and the order's total saved again.
- floor: the same orders and lines, already parsed, loaded straight into the
  same tables: COPY on PostgreSQL, executemany on SQLite.

Each figure comes from a fresh Python process (`python -m bench.imports run
...`), whose peak memory is the kernel's peak resident size (VmHWM) of the
process while it imports (the peak is reset just before): Django and the
libraries included, so flat memory shows as equal figures. The
generated files have two lines per order, over two products.

`python -m bench.imports <database url>` prints the rows as JSON; bench's
main runs it for PostgreSQL (DATABASE_URL, when it names one) and SQLite.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
VAR_DIR = BASE_DIR / "var"
COMPARED_ROWS = 20_000
SCALING_ROWS = (10_000, 100_000, 1_000_000)
DATABASE_NAME = "bench_imports"


def generated_file(rows: int) -> Path:
    path = VAR_DIR / f"bench-orders-{rows}.csv"
    if not path.exists():
        VAR_DIR.mkdir(exist_ok=True)
        with path.open("w") as file:
            file.write("external_id,ordered_at,sku,quantity,unit_price,status\n")
            for n in range(rows):
                sku = ("MUG-01", "TEE-01")[n % 2]
                file.write(f"B-{n // 2},2024-05-01,{sku},{n % 7 + 1},,paid\n")
    return path


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# --- One measurement, in its own process -----------------------------------


def run(way: str, rows: int) -> dict:
    import django

    django.setup()
    from config.celery import app

    # The email at the end is queued, but its message goes nowhere.
    app.conf.broker_url = "memory://"
    from django.contrib.auth import get_user_model
    from django.db import connection

    from apps.orders import services as orders
    from apps.orders.models import Order, OrderImport, OrderLine

    orders.products_seed_demo()
    owner, _ = get_user_model().objects.get_or_create(email="bench@example.com")
    OrderLine.objects.all().delete()
    Order.objects.all().delete()
    OrderImport.objects.all().delete()
    path = generated_file(rows)
    connection.ensure_connection()
    # Forget the peak so far (emptying the tables above can be the biggest
    # moment of the process): what follows is the import's alone.
    Path("/proc/self/clear_refs").write_text("5")
    started = time.perf_counter()
    {"ours": _ours, "naive": _naive, "floor": _floor}[way](owner, path)
    seconds = time.perf_counter() - started
    peak = _status_kb("VmHWM") / 1024
    orders_made = Order.objects.filter(owner=owner).count()
    lines_made = OrderLine.objects.filter(order__owner=owner).count()
    assert (orders_made, lines_made) == (rows // 2, rows), (orders_made, lines_made)
    return {"seconds": seconds, "peak_mb": peak, "rows_per_s": rows / seconds}


def _ours(owner, path: Path) -> None:
    from django.core.files import File

    from apps.core import services as jobs
    from apps.orders.imports import services

    with path.open("rb") as file:
        order_import = services.order_import_start(
            owner=owner, file=File(file, name=path.name)
        )
    jobs.job_start(order_import, task_id=order_import.task_id)
    services.order_import_run(order_import=order_import)
    order_import.refresh_from_db()
    assert order_import.status == "succeeded", order_import.error_message


def _naive(owner, path: Path) -> None:
    import csv
    from decimal import Decimal
    from uuid import uuid4

    from apps.orders.models import Order, OrderLine, Product

    with path.open(newline="") as file:
        for row in csv.DictReader(file):
            product = Product.objects.get(sku=row["sku"])
            order, _ = Order.objects.get_or_create(
                owner=owner,
                external_id=row["external_id"],
                defaults={
                    "ordered_at": row["ordered_at"] + "T00:00:00Z",
                    "status": row["status"],
                    "total": Decimal(0),
                    "checkout_token": uuid4(),
                },
            )
            line = OrderLine.objects.create(
                order=order,
                product=product,
                product_name=product.name,
                unit_price=product.price,
                quantity=int(row["quantity"]),
            )
            order.total += line.line_total
            order.save(update_fields=["total"])


def _floor(owner, path: Path) -> None:
    """Load the rows, parsed beforehand (not timed), as fast as the database
    takes them; the ids are given, so lines need no lookup."""
    import csv
    from uuid import uuid4

    from django.db import connection, transaction
    from django.utils import timezone

    from apps.orders.models import Product

    with path.open(newline="") as file:
        rows = list(csv.DictReader(file))
    products = {p.sku: p for p in Product.objects.all()}
    now = timezone.now()
    orders, lines = [], []
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM orders_order")
        next_id = cursor.fetchone()[0] + 1
    ids = {}
    for row in rows:
        product = products[row["sku"]]
        if row["external_id"] not in ids:
            ids[row["external_id"]] = next_id + len(ids)
            orders.append(
                (
                    ids[row["external_id"]],
                    owner.pk,
                    row["external_id"],
                    now,
                    "paid",
                    0,
                    str(uuid4()),
                    now,
                    now,
                )
            )
        lines.append(
            (
                ids[row["external_id"]],
                product.pk,
                product.name,
                product.price,
                int(row["quantity"]),
            )
        )
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(COPY_ORDERS) as copy:
                for order in orders:
                    copy.write_row(order)
            with cursor.copy(COPY_LINES) as copy:
                for line in lines:
                    copy.write_row(line)
        else:
            cursor.executemany(INSERT_ORDERS, orders)
            cursor.executemany(INSERT_LINES, lines)


ORDER_COLUMNS = (
    "id, owner_id, external_id, ordered_at, status, total, checkout_token, "
    "created_at, paid_at"
)
LINE_COLUMNS = "order_id, product_id, product_name, unit_price, quantity"
COPY_ORDERS = f"COPY orders_order ({ORDER_COLUMNS}) FROM STDIN"
COPY_LINES = f"COPY orders_orderline ({LINE_COLUMNS}) FROM STDIN"
# Constant statements: every value is a parameter.
INSERT_ORDERS = (
    f"INSERT INTO orders_order ({ORDER_COLUMNS}) "  # noqa: S608
    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
)
INSERT_LINES = (
    f"INSERT INTO orders_orderline ({LINE_COLUMNS}) "  # noqa: S608
    "VALUES (%s, %s, %s, %s, %s)"
)


# --- The rows, from several processes ---------------------------------------


def measure(environment: dict, way: str, rows: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "bench.imports", "run", way, str(rows)],
        cwd=BASE_DIR,
        env=environment,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def rows_for(database_url: str, label: str) -> list[dict]:
    from bench import report

    environment = {
        **{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
        "MEDIA_ROOT": str(VAR_DIR / "bench-media"),
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "False",
        # A million generated rows are about 35 MB.
        "IMPORT_MAX_BYTES": str(100 * 1024 * 1024),
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=environment,
        check=True,
    )
    say = lambda text: print(f"bench: imports on {label}: {text}", file=sys.stderr)  # noqa: E731
    say(f"ours and naive on {COMPARED_ROWS:,} rows")
    ours = measure(environment, "ours", COMPARED_ROWS)
    naive = measure(environment, "naive", COMPARED_ROWS)
    rows = [
        report.row(
            f"import_{COMPARED_ROWS // 1000}k_rows_per_s_{label}",
            {"ours": ours["rows_per_s"], "bare": naive["rows_per_s"]},
            "rows/s",
            lower_is_better=False,
        )
    ]
    peaks = {}
    for size in SCALING_ROWS:
        say(f"ours and the floor on {size:,} rows")
        ours = measure(environment, "ours", size)
        floor = measure(environment, "floor", size)
        name = f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}m"
        rows.append(
            report.row(
                f"import_{name}_seconds_{label}_vs_floor",
                {"ours": ours["seconds"], "bare": floor["seconds"]},
                "s",
                lower_is_better=True,
            )
        )
        peaks[size] = ours["peak_mb"]
        rows.append(
            report.row(
                f"import_{name}_peak_mb_{label}_vs_10k",
                {"ours": ours["peak_mb"], "bare": peaks[SCALING_ROWS[0]]},
                "MB",
                lower_is_better=True,
            )
        )
    return rows


def main(argv: list[str]) -> None:
    if argv[:1] == ["run"]:
        print(json.dumps(run(argv[1], int(argv[2]))))
        return
    print(json.dumps(rows_for(argv[0], argv[1] if len(argv) > 1 else "db")))


if __name__ == "__main__":
    main(sys.argv[1:])
