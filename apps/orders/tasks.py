from celery import shared_task

from apps.core.exceptions import RetryLater
from apps.orders import services
from apps.orders.models import Payment


# Attempts are capped on the row (Payment.max_attempts) and every retry waits
# at most Payment.retry_backoff_max, below the broker's visibility timeout.
@shared_task(bind=True, max_retries=None, soft_time_limit=15, time_limit=20)
def payment_process(self, payment_id: int) -> None:
    payment = Payment.objects.filter(id=payment_id).first()
    if payment is None:
        return  # Order deleted after enqueue; nothing to charge.
    try:
        services.payment_process(payment=payment)
    except RetryLater as exc:
        raise self.retry(countdown=exc.countdown) from exc


@shared_task(soft_time_limit=20, time_limit=25)
def orders_flag_stale() -> int:
    return len(services.orders_flag_stale())
