"""
The PDF reports (apps.reports): an order-history report rendered our way
against the way a tutorial renders the same rows, and how ours grows from
1,000 to 10,000 orders.

- ours: the worker's path without Celery: a Report row of kind order_history,
  then what services.report_generate does: take the snapshot, count the
  rows, then pdf.write_pdf over kinds.html_parts (parts of
  REPORT_ROWS_PER_PART orders, from templates/reports/pdf/order_history.html
  with static/pdf/pdf.css), joined with pypdf and stamped "Page n of N".
  Left out: the progress writes between parts (they need a claimed job row;
  a few milliseconds each) and the notification and email at the end.
- naive: the same rows (the same selector) rendered the way tutorials do: the
  whole queryset into ONE HTML page whose table is styled by Bootstrap 5
  (`container`, `table table-striped table-bordered table-sm`, `table-light`
  head, the same five columns), and `HTML(string=...).write_pdf(path)`: one
  WeasyPrint document, no parts, no page numbers. Both sides set text in
  DejaVu Sans (ours bundles it; Bootstrap's system-ui resolves to it here).

bench/fixtures/bootstrap.min.css is Bootstrap v5.3.8's own minified file,
unchanged (MIT licence header inside), as shipped in the bootstrap-flask 2.6.0
wheel on PyPI (flask_bootstrap/static/bootstrap5/css/bootstrap.min.css).

Each figure comes from a fresh Python process (`python -m bench.reports run
<way> <orders>`) on a throwaway SQLite database (var/bench-reports.sqlite3,
the project's own settings, migrated and filled here: one owner with 1,000
orders, another with 10,000, each order of 1-3 lines). A process first
renders a one-line document (WeasyPrint's and fontconfig's start-up, which a
worker pays once), then resets its peak memory and times from the first
query to the PDF on disk. Peak memory is the kernel's peak resident size
(VmHWM) of the whole process over that span, Django and WeasyPrint included.

The naive way is measured at 1,000 orders only. At 10,000 it lays out some
830 pages as one document: measured once on this 2-core machine, 281 s of CPU
(nearly 7 minutes of wall time with other work running) and a peak of 1.7 GB,
against about 15 s and 260 MB at 1,000: its time grows faster than its
length, and it alone would take more than this part's budget of a few
minutes. Bootstrap's default font size and padding give it about twice as
many pages as ours for the same rows (81 against 38 at 1,000), so the rows
give the seconds for the same rows beside pages per second.

`python -m bench.reports` prints the rows as JSON; `python -m bench` includes
them, and `python -m bench reports` runs only this part.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
VAR_DIR = BASE_DIR / "var"
DATABASE = VAR_DIR / "bench-reports.sqlite3"
MEDIA_ROOT = VAR_DIR / "bench-media"
BOOTSTRAP_DIR = Path(__file__).resolve().parent / "fixtures"
COMPARED_ORDERS = 1_000
SCALING_ORDERS = 10_000
# Every order is placed in this month; the reports span it.
MONTH = ("2026-03-01", "2026-03-31")


def _owner_email(orders: int) -> str:
    return f"bench-reports-{orders}@example.com"


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


# --- The orders, made once per run -----------------------------------------


def seed() -> None:
    """One owner per report size, with that many orders over MONTH."""
    import django

    django.setup()
    from datetime import datetime, timedelta
    from decimal import Decimal
    from uuid import uuid4

    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from apps.orders import services as orders
    from apps.orders.models import Order, OrderLine, Product

    orders.products_seed_demo()
    products = list(Product.objects.order_by("sku"))
    statuses = [Order.Status.PAID] * 7 + [
        Order.Status.AWAITING_PAYMENT,
        Order.Status.PAYMENT_FAILED,
        Order.Status.PROCESSING,
    ]
    first = timezone.make_aware(datetime.fromisoformat(MONTH[0] + " 00:00"))
    month = timedelta(days=31) - timedelta(minutes=1)
    for size in (COMPARED_ORDERS, SCALING_ORDERS):
        owner = get_user_model().objects.create_user(email=_owner_email(size))
        made, lines = [], []
        for n in range(size):
            items = [
                (products[(n + i) % len(products)], (n * 7 + i) % 4 + 1)
                for i in range(n % 3 + 1)
            ]
            status = statuses[n % len(statuses)]
            ordered_at = first + month * n / size
            made.append(
                Order(
                    owner=owner,
                    status=status,
                    total=sum((p.price * q for p, q in items), Decimal(0)),
                    checkout_token=uuid4(),
                    ordered_at=ordered_at,
                    paid_at=ordered_at if status == Order.Status.PAID else None,
                    external_id=f"SHOP-{n:06d}" if n % 2 else "",
                )
            )
            lines.append(items)
        with transaction.atomic():
            Order.objects.bulk_create(made, batch_size=1000)
            OrderLine.objects.bulk_create(
                (
                    OrderLine(
                        order=order,
                        product=product,
                        product_name=product.name,
                        unit_price=product.price,
                        quantity=quantity,
                    )
                    for order, items in zip(made, lines, strict=True)
                    for product, quantity in items
                ),
                batch_size=1000,
            )


# --- One measurement, in its own process -----------------------------------


def run(way: str, size: int) -> dict:
    import django

    django.setup()
    from datetime import date

    from django.contrib.auth import get_user_model
    from django.core.files.storage import default_storage
    from pypdf import PdfReader
    from weasyprint import HTML

    # Imported before the reset, on both sides: modules are the process's.
    from apps.core import pdf  # noqa: F401
    from apps.reports import kinds, selectors  # noqa: F401
    from apps.reports.models import Report

    owner = get_user_model().objects.get(email=_owner_email(size))
    report = Report.objects.create(
        owner=owner,
        kind=Report.Kind.ORDER_HISTORY,
        start=date.fromisoformat(MONTH[0]),
        end=date.fromisoformat(MONTH[1]),
        stored_file=f"reports/bench-{way}-{size}.pdf",
    )
    path = Path(default_storage.path(report.stored_file))
    path.parent.mkdir(parents=True, exist_ok=True)
    # Start-up a worker pays once, not per report: fontconfig's font list,
    # WeasyPrint's default stylesheets and fonts.
    HTML(string="<p>Warm-up</p>").write_pdf()
    # Forget the peak so far: what follows is the report's alone.
    Path("/proc/self/clear_refs").write_text("5")
    start_mb = _status_kb("VmRSS") / 1024
    started, cpu_started = time.perf_counter(), time.process_time()
    {"ours": _ours, "naive": _naive}[way](report, path)
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - cpu_started
    peak = _status_kb("VmHWM") / 1024
    pages = len(PdfReader(path).pages)
    if way == "ours":
        assert f"Page {pages} of {pages}" in PdfReader(path).pages[-1].extract_text()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "pages": pages,
        "pages_per_s": pages / seconds,
        "peak_mb": peak,
        "start_mb": start_mb,
        "mb_per_page": peak / pages,
        "bytes": path.stat().st_size,
    }


def _ours(report, path: Path) -> None:
    from django.conf import settings

    from apps.core import pdf
    from apps.reports import kinds

    upto = kinds.snapshot(report)
    rows = kinds.rows_in(report, upto)
    assert rows <= settings.REPORT_MAX_ROWS, rows
    made = pdf.write_pdf(
        (html for html, _ in kinds.html_parts(report, upto)), path, title=str(report)
    )
    assert made.pages > 0


# What a tutorial's template looks like: Bootstrap from the page's own head,
# the framework's table classes, the same columns and values as ours, the
# total as the last row as ours has it (WeasyPrint repeats a tfoot on every
# page, which would give this side more to lay out).
NAIVE_TEMPLATE = """{% load humanize %}<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{{ report }}</title>
  <link rel="stylesheet" href="bootstrap.min.css">
</head>
<body>
<div class="container">
  <h1 class="h3 mt-3">{{ report.get_kind_display }}, {{ report.start|date:"M j, Y" }} – {{ report.end|date:"M j, Y" }}</h1>
  <p class="text-muted">For {{ report.owner.email }} · made {% now "M j, Y H:i e" %} · report #{{ report.pk }}</p>
  <table class="table table-striped table-bordered table-sm">
    <thead class="table-light"><tr><th>Placed</th><th>Order</th><th>Items</th><th>Status</th><th class="text-end">Total ({{ currency }})</th></tr></thead>
    <tbody>
    {% for order in orders %}<tr><td>{{ order.ordered_at|date:"Y-m-d H:i" }}</td><td>#{{ order.pk }}{% if order.external_id %} ({{ order.external_id }}){% endif %}</td><td>{% for line in order.lines.all %}{{ line.quantity }} × {{ line.product_name }}{% if not forloop.last %}; {% endif %}{% endfor %}</td><td>{{ order.get_status_display }}</td><td class="text-end">{{ order.total|floatformat:"2g" }}</td></tr>
    {% endfor %}
    <tr class="fw-bold"><td colspan="4">{{ totals.orders|intcomma }} order{{ totals.orders|pluralize }}</td><td class="text-end">{{ totals.revenue|floatformat:"2g" }}</td></tr>
    </tbody>
  </table>
</div>
</body>
</html>
"""  # noqa: E501


def _naive(report, path: Path) -> None:
    from django.conf import settings
    from django.template import engines
    from weasyprint import HTML

    from apps.reports import selectors

    html = (
        engines["django"]
        .from_string(NAIVE_TEMPLATE)
        .render(
            {
                "report": report,
                "currency": settings.CURRENCY,
                "orders": selectors.order_history(report),
                "totals": selectors.order_history_totals(report),
            }
        )
    )
    HTML(string=html, base_url=BOOTSTRAP_DIR.as_uri() + "/").write_pdf(path)


# --- The rows, from several processes ---------------------------------------


def measure(environment: dict, way: str, size: int) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "bench.reports", "run", way, str(size)],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
    )
    if result.returncode:
        # WeasyPrint's warnings about Bootstrap come first: show the end.
        raise SystemExit(
            f"bench: reports: {way} on {size:,} orders failed:\n"
            + "\n".join(result.stderr.splitlines()[-25:])
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def rows() -> list[dict]:
    from bench import report

    def say(text: str) -> None:
        print(f"bench: reports: {text}", file=sys.stderr, flush=True)

    environment = {
        **{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
        "MEDIA_ROOT": str(MEDIA_ROOT),
        "DATABASE_URL": f"sqlite:///{DATABASE}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "False",
        "LOG_LEVEL": "WARNING",
    }
    for suffix in ("", "-wal", "-shm"):
        DATABASE.with_name(DATABASE.name + suffix).unlink(missing_ok=True)
    VAR_DIR.mkdir(exist_ok=True)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=BASE_DIR,
        env=environment,
        check=True,
    )
    subprocess.run(
        [sys.executable, "-m", "bench.reports", "seed"],
        cwd=BASE_DIR,
        env=environment,
        check=True,
    )

    def measured(way: str, size: int) -> dict:
        figures = measure(environment, way, size)
        say(
            f"{way} on {size:,} orders: {figures['pages']} pages in "
            f"{figures['seconds']:.1f}s ({figures['cpu_seconds']:.1f}s of CPU), "
            f"{figures['pages_per_s']:.2f} pages/s, peak {figures['peak_mb']:.0f} MB "
            f"(from {figures['start_mb']:.0f} MB), "
            f"{figures['mb_per_page']:.2f} MB/page"
        )
        return figures

    say(f"ours and naive on {COMPARED_ORDERS:,} orders")
    ours = measured("ours", COMPARED_ORDERS)
    naive = measured("naive", COMPARED_ORDERS)
    say(f"ours on {SCALING_ORDERS:,} orders (two to four minutes)")
    big = measured("ours", SCALING_ORDERS)

    def row(name, key, unit, figures, baseline, lower_is_better):
        return report.row(
            name,
            {"ours": figures[key], "bare": baseline[key]},
            unit,
            lower_is_better=lower_is_better,
        )

    k, big_k = COMPARED_ORDERS // 1000, SCALING_ORDERS // 1000
    return [
        row(
            f"report_{k}k_orders_seconds_vs_bootstrap",
            "seconds",
            "s",
            ours,
            naive,
            True,
        ),
        # The same rows per second: Bootstrap's bigger type and padding put
        # half as many orders on a page, so pages per second alone flatters it.
        report.row(
            f"report_{k}k_orders_rows_per_s_vs_bootstrap",
            {
                "ours": COMPARED_ORDERS / ours["seconds"],
                "bare": COMPARED_ORDERS / naive["seconds"],
            },
            "rows/s",
            lower_is_better=False,
        ),
        row(
            f"report_{k}k_orders_pages_per_s_vs_bootstrap",
            "pages_per_s",
            "pages/s",
            ours,
            naive,
            False,
        ),
        row(
            f"report_{k}k_orders_peak_mb_vs_bootstrap",
            "peak_mb",
            "MB",
            ours,
            naive,
            True,
        ),
        row(
            f"report_{big_k}k_orders_pages_per_s_vs_{k}k",
            "pages_per_s",
            "pages/s",
            big,
            ours,
            False,
        ),
        row(
            f"report_{big_k}k_orders_peak_mb_vs_{k}k", "peak_mb", "MB", big, ours, True
        ),
        row(
            f"report_{big_k}k_orders_mb_per_page_vs_{k}k",
            "mb_per_page",
            "MB/page",
            big,
            ours,
            True,
        ),
        # Ten times the orders against ten times the 1k seconds: above 1,
        # time grows less than in proportion.
        report.row(
            f"report_{big_k}k_orders_seconds_vs_{k}k_x10",
            {"ours": big["seconds"], "bare": ours["seconds"] * big_k / k},
            "s",
            lower_is_better=True,
        ),
    ]


def main(argv: list[str]) -> None:
    if argv[:1] == ["seed"]:
        seed()
    elif argv[:1] == ["run"]:
        print(json.dumps(run(argv[1], int(argv[2]))))
    else:
        print(json.dumps(rows()))


if __name__ == "__main__":
    main(sys.argv[1:])
