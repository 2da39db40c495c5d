"""What each kind of report holds, as HTML parts for apps.core.pdf.

Every kind takes a snapshot (the highest row id there is when it starts:
rows added during the render are left out, so counts, totals and rows
agree), counts its rows (for the row cap and the progress bar) and yields its
document in parts of at most REPORT_ROWS_PER_PART rows, each a whole HTML
page from the kind's template, with how many rows it holds. Data comes from
the selectors, always scoped to the report's owner; user text reaches the
templates only through autoescaping.
"""

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Q, QuerySet
from django.template.loader import render_to_string

from apps.reports import charts, selectors
from apps.reports.models import Report

Kind = Report.Kind


def snapshot(report: Report) -> int:
    """The last row id the report will include."""
    if report.kind == Kind.FAILED_PAYMENTS:
        return selectors.last_attempt_id()
    return selectors.last_order_id()


def rows_in(report: Report, upto: int) -> int:
    """How many rows the report will list, one per line of its table."""
    if report.kind == Kind.ORDER_HISTORY:
        return selectors.order_history(report, upto).count()
    if report.kind == Kind.FAILED_PAYMENTS:
        return selectors.failed_payment_attempts(report, upto).count()
    return selectors.sales_totals(report, upto)["orders"]


def is_capped(report: Report) -> bool:
    """Whether the row cap applies: not to a sales summary, whose tables
    have a row per day and per product however many orders there are."""
    return report.kind != Kind.SALES_SUMMARY


def html_parts(report: Report, upto: int) -> Iterator[tuple[str, int]]:
    """The report as (HTML of one part, rows in it), first to last."""
    if report.kind == Kind.ORDER_HISTORY:
        return _order_history(report, upto)
    if report.kind == Kind.FAILED_PAYMENTS:
        return _failed_payments(report, upto)
    return _sales_summary(report, upto)


def _render(report: Report, template: str, context: dict) -> str:
    return render_to_string(
        f"reports/pdf/{template}.html",
        {"report": report, "currency": settings.CURRENCY, **context},
    )


def _sales_summary(report: Report, upto: int) -> Iterator[tuple[str, int]]:
    # One part: a day per row and a product per row, however many orders.
    totals = selectors.sales_totals(report, upto)
    days = selectors.sales_by_day(report, upto)
    # Every day of the range on the chart, those without sales at zero, so
    # that its axis is time.
    revenue_on = {day["day"]: day["revenue"] for day in days}
    chart = charts.bar_chart(
        [
            (day.strftime("%b %d"), revenue_on.get(day, Decimal(0)))
            for day in _days(report.start, report.end)
        ]
    )
    html = _render(
        report,
        "sales_summary",
        {
            "totals": totals,
            "average": (
                (totals["revenue"] / totals["orders"]).quantize(Decimal("0.01"))
                if totals["orders"]
                else Decimal("0.00")
            ),
            "days": days,
            "products": selectors.sales_by_product(report, upto),
            "chart": chart,
        },
    )
    yield html, totals["orders"]


def _order_history(report: Report, upto: int) -> Iterator[tuple[str, int]]:
    size = settings.REPORT_ROWS_PER_PART
    totals = selectors.order_history_totals(report, upto)
    orders = selectors.order_history(report, upto)
    done = 0
    for number, chunk in enumerate(_chunks(orders, size, "ordered_at"), start=1):
        done += len(chunk)
        yield (
            _render(
                report,
                "order_history",
                {
                    "orders": chunk,
                    "part": number,
                    "totals": totals,
                    "last": done >= totals["orders"],
                },
            ),
            len(chunk),
        )


def _failed_payments(report: Report, upto: int) -> Iterator[tuple[str, int]]:
    size = settings.REPORT_ROWS_PER_PART
    attempts = selectors.failed_payment_attempts(report, upto)
    total = attempts.count()
    done = 0
    for number, chunk in enumerate(_chunks(attempts, size, "started_at"), start=1):
        payments = selectors.payments_by_id({attempt.job_id for attempt in chunk})
        rows = [(attempt, payments.get(attempt.job_id)) for attempt in chunk]
        done += len(chunk)
        yield (
            _render(
                report,
                "failed_payments",
                {"rows": rows, "part": number, "total": total, "last": done >= total},
            ),
            len(chunk),
        )


def _days(start: date, end: date) -> Iterator[date]:
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


def _chunks(rows: QuerySet, size: int, field: str) -> Iterator[list]:
    """The rows, ordered by (`field`, id), in lists of `size`: each list a
    query of its own that starts after the last row of the one before.

    Not one long cursor: the worker writes its progress between two lists,
    and SQLite refuses a write from a connection still reading an older
    snapshot (a PostgreSQL cursor would hold a transaction open as long).
    The first list may be empty: an empty report is a page that says so.
    """
    chunk = list(rows[:size])
    yield chunk
    while len(chunk) == size:
        value, pk = getattr(chunk[-1], field), chunk[-1].pk
        after = Q(**{f"{field}__gt": value}) | Q(**{field: value, "pk__gt": pk})
        chunk = list(rows.filter(after)[:size])
        if chunk:
            yield chunk
