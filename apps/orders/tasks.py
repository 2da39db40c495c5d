from celery import shared_task

from apps.core.job_task import job_task
from apps.orders import services
from apps.orders.models import Payment


# A payment out of attempts is settled with the gateway before it fails: the
# last attempt may have charged the card after all.
@job_task(Payment, give_up=services.payment_give_up)
def payment_process(payment: Payment) -> None:
    services.payment_process(payment=payment)


@shared_task(soft_time_limit=20, time_limit=25)
def orders_flag_stale() -> int:
    return len(services.orders_flag_stale())
