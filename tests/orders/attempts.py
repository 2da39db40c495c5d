"""Run payment attempts as the worker would, without a worker."""

from django.utils import timezone

from apps.core.exceptions import RetryLater
from apps.orders import tasks
from apps.orders.models import Payment


def process(payment):
    """One attempt; the countdown if it asked to retry, else None.

    A retry is claimed only once due, so time first runs forward to it, as it
    would for the retry message waiting out its countdown.
    """
    Payment.objects.filter(pk=payment.pk, status="retrying").update(
        next_retry_at=timezone.now()
    )
    try:
        # Called directly, as a worker would run it; a retry raises RetryLater.
        tasks.payment_process(payment.pk)
    except RetryLater as retry:
        return retry.countdown
    return None


def exhaust(payment):
    """Run every attempt the payment is allowed."""
    for _ in range(payment.max_attempts):
        process(payment)
