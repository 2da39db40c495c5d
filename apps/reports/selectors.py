"""What reports read: the user's reports, and each kind's data, always
filtered by the report's owner (another user's orders never reach a PDF)."""

from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.core.models import JobAttempt
from apps.orders.models import Order, OrderLine, Payment
from apps.reports.models import Report


def reports_of(user) -> QuerySet[Report]:
    return Report.objects.filter(owner=user)


def range_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The report's days as [first midnight, the midnight after the last)."""
    zone = timezone.get_current_timezone()
    return (
        datetime.combine(start, time.min, tzinfo=zone),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=zone),
    )


def orders_in_range(report: Report, upto: int | None = None) -> QuerySet[Order]:
    """The owner's orders placed in the report's days; with `upto`, only
    those that existed when the report took its snapshot (id at most `upto`),
    so that orders arriving during a render change neither its rows nor its
    totals."""
    since, until = range_bounds(report.start, report.end)
    orders = Order.objects.filter(
        owner_id=report.owner_id, ordered_at__gte=since, ordered_at__lt=until
    )
    return orders if upto is None else orders.filter(id__lte=upto)


def paid_orders_in_range(report: Report, upto: int | None = None) -> QuerySet[Order]:
    return orders_in_range(report, upto).filter(status=Order.Status.PAID)


def sales_totals(report: Report, upto: int | None = None) -> dict:
    return paid_orders_in_range(report, upto).aggregate(
        orders=Count("id"), revenue=Sum("total", default=Decimal("0"))
    )


def sales_by_day(report: Report, upto: int | None = None) -> list[dict]:
    """[{day, orders, revenue}] for the days with paid orders, in order."""
    zone = timezone.get_current_timezone()
    return list(
        paid_orders_in_range(report, upto)
        .annotate(day=TruncDate("ordered_at", tzinfo=zone))
        .values("day")
        .annotate(orders=Count("id"), revenue=Sum("total"))
        .order_by("day")
    )


def sales_by_product(report: Report, upto: int | None = None) -> list[dict]:
    """[{sku, name, units, revenue}] of the paid orders' lines, best first."""
    return list(
        OrderLine.objects.filter(order__in=paid_orders_in_range(report, upto))
        .values(sku=F("product__sku"), name=F("product_name"))
        .annotate(units=Sum("quantity"), revenue=Sum(F("unit_price") * F("quantity")))
        .order_by("-revenue", "sku")
    )


def order_history(report: Report, upto: int | None = None) -> QuerySet[Order]:
    """Every order in the range, oldest first, with its lines."""
    return (
        orders_in_range(report, upto)
        .order_by("ordered_at", "id")
        .prefetch_related("lines")
        .only(
            "id", "owner_id", "status", "total", "ordered_at", "paid_at", "external_id"
        )
    )


def order_history_totals(report: Report, upto: int | None = None) -> dict:
    return orders_in_range(report, upto).aggregate(
        orders=Count("id"), revenue=Sum("total", default=Decimal("0"))
    )


def failed_payment_attempts(
    report: Report, upto: int | None = None
) -> QuerySet[JobAttempt]:
    """The attempts of the owner's payments that failed (finally or before a
    retry) in the range, oldest first: the attempt history is the record.
    `upto` bounds the attempts' ids, as for orders_in_range."""
    since, until = range_bounds(report.start, report.end)
    payments = Payment.objects.filter(order__owner_id=report.owner_id)
    attempts = JobAttempt.objects.filter(
        Q(outcome=JobAttempt.Outcome.FAILED) | Q(outcome=JobAttempt.Outcome.RETRY),
        job_type=ContentType.objects.get_for_model(Payment),
        job_id__in=payments.values("id"),
        started_at__gte=since,
        started_at__lt=until,
    ).order_by("started_at", "id")
    return attempts if upto is None else attempts.filter(id__lte=upto)


def last_order_id() -> int:
    return Order.objects.aggregate(last=Max("id"))["last"] or 0


def last_attempt_id() -> int:
    return JobAttempt.objects.aggregate(last=Max("id"))["last"] or 0


def payments_by_id(ids) -> dict[int, Payment]:
    return {
        payment.pk: payment
        for payment in Payment.objects.filter(pk__in=ids).only(
            "id", "order_id", "amount", "card_last4", "failure_code", "status"
        )
    }
