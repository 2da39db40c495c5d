import logging
from datetime import timedelta
from decimal import Decimal
from uuid import uuid4

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from apps.accounts import selectors as accounts
from apps.core import services as jobs
from apps.notifications import services as notifications
from apps.orders import gateway, invoices
from apps.orders.models import Order, OrderLine, Payment, Product

logger = logging.getLogger(__name__)

CENT = Decimal("0.01")


class OrderNotPayable(Exception):
    """The order is paid, or a payment for it is already under way."""


@transaction.atomic
def order_place(
    *, owner: AbstractBaseUser, quantities: dict[int, int], checkout_token
) -> Order:
    """Create an order for the given {product id: quantity}; prices from the database.

    Submitting the same checkout form twice (same token) returns the first order.
    """
    existing = Order.objects.filter(owner=owner, checkout_token=checkout_token).first()
    if existing:
        return existing
    # In catalogue order; quantities for unknown or withdrawn products are ignored.
    products = Product.objects.filter(pk__in=quantities, is_active=True)
    lines = [
        OrderLine(
            product=product,
            product_name=product.name,
            unit_price=product.price,
            quantity=quantities[product.pk],
        )
        for product in products
        if quantities[product.pk] > 0
    ]
    if not lines:
        raise ValueError("An order needs at least one product.")
    try:
        with transaction.atomic():  # A savepoint: a lost race rolls back alone.
            order = Order.objects.create(
                owner=owner,
                checkout_token=checkout_token,
                total=sum((ln.line_total for ln in lines), Decimal("0")).quantize(CENT),
            )
    except IntegrityError:
        # The same form, submitted twice at once: the other request won.
        return Order.objects.get(owner=owner, checkout_token=checkout_token)
    for line in lines:
        line.order = order
    OrderLine.objects.bulk_create(lines)
    return order


@transaction.atomic
def payment_start(*, order: Order, card_number: str) -> Payment:
    """Tokenize the card and have a worker charge it for the order's total.

    A second submission while a payment is under way returns that payment.
    """
    order = Order.objects.select_for_update().get(pk=order.pk)
    live = order.payments.exclude(status=Payment.Status.FAILED).first()
    if live:
        return live
    if not order.is_payable:
        raise OrderNotPayable
    card = gateway.tokenize(card_number)
    payment = Payment.objects.create(
        owner=order.owner,
        order=order,
        amount=order.total,
        card_token=card.token,
        card_last4=card_number[-4:],
        idempotency_key=f"order-{order.pk}-payment-{card.token}",
        stage="Waiting for the payment worker",
    )
    order.status = Order.Status.PROCESSING
    order.save(update_fields=["status"])
    jobs.job_enqueue(payment)
    return payment


def payment_process(*, payment: Payment) -> None:
    """Charge the card; run by the worker, once per attempt.

    The job task base has claimed the payment for this attempt, so duplicated
    or late messages never get here. A transient gateway failure is recorded
    and retried (job_retry_or_fail raises RetryLater); every charge carries the
    payment's idempotency key, so a retry never charges twice.
    """
    jobs.job_progress(payment, progress=30, stage="Charging the card")
    try:
        charge = gateway.charge(
            token=payment.card_token,
            amount=payment.amount,
            currency=settings.CURRENCY,
            idempotency_key=payment.idempotency_key,
        )
    except gateway.CardDeclined as exc:
        _payment_failed(payment, message=exc.message, code=exc.code)
    except gateway.GatewayUnavailable as exc:
        _payment_retry(payment, exc.reason, exc.code)
    except SoftTimeLimitExceeded:
        _payment_retry(payment, "gateway too slow", "timeout")
    else:
        _payment_succeeded(payment, charge_id=charge.charge_id)


def payment_give_up(payment: Payment, *, message: str, detail: str = "") -> None:
    """End a payment out of attempts: paid if the gateway did charge, else failed.

    The job's give-up hook (apps.orders.tasks). The last attempt may have
    timed out after the card was charged; failing the payment then would let
    the user pay a second time.
    """
    charge = gateway.charge_lookup(idempotency_key=payment.idempotency_key)
    if charge is not None and charge.status == charge.Status.SUCCEEDED:
        _payment_succeeded(payment, charge_id=charge.charge_id)
    else:
        # Out of attempts, the last one wrote the gateway's code and passed
        # it on as `detail`; anything else in `detail` is a traceback.
        code = (
            "timeout"  # Its own time limit.
            if detail == "SoftTimeLimitExceeded"
            else "error"  # A bug.
            if detail and detail != payment.failure_code
            else payment.failure_code or "interrupted"  # Out of attempts.
        )
        _payment_failed(
            payment, message=message, code=code, detail=detail, dead_letter=True
        )


@transaction.atomic
def payment_retry(*, payment: Payment) -> bool:
    """Start a failed payment again with the same card and key (staff action).

    Refused (False) when the order was paid meanwhile or another payment runs.
    """
    order = Order.objects.select_for_update().get(pk=payment.order_id)
    payment = Payment.objects.get(pk=payment.pk)
    if payment.status != Payment.Status.FAILED or not order.is_payable:
        return False
    if order.payments.exclude(status=Payment.Status.FAILED).exists():
        return False
    # dead_lettered_at stays: the dead-letter list shows it as resolved now.
    payment.failure_code = ""
    payment.save(update_fields=["failure_code"])
    order.status = Order.Status.PROCESSING
    order.save(update_fields=["status"])
    jobs.job_requeue(payment, stage="Retried by staff")
    return True


def payment_retry_for_operator(payment: Payment) -> bool:
    """The operations page's retry of a failed payment (Payment.operator_retry)."""
    return payment_retry(payment=payment)


def _payment_retry(payment: Payment, reason: str, code: str) -> None:
    logger.warning(
        "Payment %s attempt %s failed: %s", payment.pk, payment.attempts, reason
    )
    jobs.job_retry_or_fail(payment, reason=reason, detail=code, failure_code=code)


@transaction.atomic
def _payment_succeeded(payment: Payment, *, charge_id: str) -> None:
    jobs.job_succeed(payment, stage="Paid", charge_id=charge_id, failure_code="")
    order = Order.objects.select_for_update().get(pk=payment.order_id)
    order.status = Order.Status.PAID
    order.paid_at = timezone.now()
    order.save(update_fields=["status", "paid_at"])
    notifications.notify(
        owner=order.owner,
        kind="payment_paid",
        message=f"Order #{order.pk} is paid: {order.total} {settings.CURRENCY}.",
        url=reverse("orders:detail", args=[order.pk]),
        idempotency_key=f"payment_paid:{payment.pk}",
    )
    # The invoice, then the "order paid" email with it attached (a chain).
    invoices.invoice_start(order=order)
    logger.info("Payment %s paid order %s", payment.pk, order.pk)


@transaction.atomic
def _payment_failed(
    payment: Payment,
    *,
    message: str,
    code: str,
    detail: str = "",
    dead_letter: bool = False,
) -> None:
    jobs.job_fail(
        payment,
        message=message,
        detail=detail,
        failure_code=code,
        dead_lettered_at=timezone.now() if dead_letter else None,
    )
    order = Order.objects.select_for_update().get(pk=payment.order_id)
    order.status = Order.Status.PAYMENT_FAILED
    order.save(update_fields=["status"])
    notifications.notify(
        owner=order.owner,
        kind="payment_failed",
        message=f"The payment for order #{order.pk} failed: {message}",
        url=reverse("orders:detail", args=[order.pk]),
        idempotency_key=f"payment_failed:{payment.pk}:{payment.task_id}",
    )
    notifications.email_queue(
        owner=order.owner,
        template="payment_failed",
        context={"order": order, "payment": payment, "order_url": _order_url(order)},
        # One email per run of the payment; a staff retry is a new run.
        idempotency_key=f"payment-failed:{payment.pk}:{payment.task_id}",
    )
    logger.info("Payment %s failed for good: %s", payment.pk, message)


@transaction.atomic
def orders_flag_stale() -> list[Order]:
    """Flag orders placed here and unpaid for longer than ORDER_STALE_AFTER
    (checkouts left before paying, or payments stuck), and tell staff once.

    Orders with an external id (imported, or the demo's) that await payment
    are left out: awaiting payment is what their file said of them, not a
    checkout left on this site. Once a payment of theirs is under way here,
    they are watched like any other.

    Flags and emails commit together, and each order is claimed with a
    conditional UPDATE, so overlapping runs (two beats, a slow run) report it
    once, and a crash reports it on the next run.
    """
    now = timezone.now()
    cutoff = now - timedelta(minutes=settings.ORDER_STALE_AFTER)
    candidates = (
        Order.objects.filter(
            status__in=[Order.Status.AWAITING_PAYMENT, Order.Status.PROCESSING],
            created_at__lt=cutoff,
            flagged_stale_at__isnull=True,
        )
        .exclude(status=Order.Status.AWAITING_PAYMENT, external_id__gt="")
        .values_list("pk", flat=True)
    )
    flagged = [
        pk
        for pk in candidates[:200]
        if Order.objects.filter(pk=pk, flagged_stale_at__isnull=True).update(
            flagged_stale_at=now
        )
    ]
    orders = list(Order.objects.filter(pk__in=flagged).select_related("owner"))
    if not orders:
        return []
    for staff in accounts.staff_users():
        notifications.email_queue(
            owner=staff,
            template="orders_stale",
            context={
                "orders": orders,
                "stale_after": settings.ORDER_STALE_AFTER,
                "admin_url": settings.SITE_URL
                + reverse("admin:orders_order_changelist")
                + "?flagged=yes",
            },
        )
    logger.warning("%s orders await payment too long", len(orders))
    return orders


def products_seed_demo() -> None:
    """The demo catalogue; safe to run twice."""
    for sku, name, price, description in DEMO_PRODUCTS:
        Product.objects.update_or_create(
            sku=sku,
            defaults={
                "name": name,
                "price": Decimal(price),
                "description": description,
            },
        )


DEMO_PRODUCTS = [
    ("MUG-01", "Celery mug", "12.00", "Holds one hot drink while your tasks run."),
    ("TEE-01", "Broker T-shirt", "24.50", "Soft cotton, with a Redis-red print."),
    ("BOOK-01", "Background Jobs Handbook", "39.00", "Idempotency, retries, leases."),
    ("STK-01", "Sticker pack", "4.99", "Ten stickers for your laptop."),
    ("CAP-01", "Worker cap", "18.00", "For long shifts on the heavy queue."),
]


def _order_url(order: Order) -> str:
    return settings.SITE_URL + reverse("orders:detail", args=[order.pk])


def orders_seed_demo(*, email: str, days: int = 90) -> int:
    """Give the demo user a few months of orders (imported-style, with
    external ids DEMO-...), so that reports have something to show; once."""
    owner = accounts.user_by_email(email)
    if (
        owner is None
        or Order.objects.filter(owner=owner, external_id__startswith="DEMO-").exists()
    ):
        return 0
    products = list(Product.objects.filter(is_active=True).order_by("sku"))
    now = timezone.now()
    made = 0
    with transaction.atomic():
        for number in range(days * 2):
            ordered_at = now - timedelta(days=days - number // 2, hours=number % 9)
            chosen = [
                products[(number + step) % len(products)]
                for step in range(1 + number % 3)
            ]
            lines = [
                (product, 1 + (number + index) % 4)
                for index, product in enumerate(chosen)
            ]
            paid = number % 5 != 0  # One in five still awaits payment.
            order = Order.objects.create(
                owner=owner,
                status=Order.Status.PAID if paid else Order.Status.AWAITING_PAYMENT,
                total=sum(product.price * quantity for product, quantity in lines),
                checkout_token=uuid4(),
                ordered_at=ordered_at,
                paid_at=ordered_at if paid else None,
                external_id=f"DEMO-{number + 1:04d}",
            )
            OrderLine.objects.bulk_create(
                OrderLine(
                    order=order,
                    product=product,
                    product_name=product.name,
                    unit_price=product.price,
                    quantity=quantity,
                )
                for product, quantity in lines
            )
            made += 1
    return made
