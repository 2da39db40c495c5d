from celery import shared_task

from apps.core.job_task import job_task
from apps.orders import invoices, services
from apps.orders.imports import services as imports
from apps.orders.models import Invoice, OrderImport, Payment


# A payment out of attempts is settled with the gateway before it fails: the
# last attempt may have charged the card after all.
@job_task(Payment, give_up=services.payment_give_up)
def payment_process(payment: Payment) -> None:
    services.payment_process(payment=payment)


# The first link of the chain that Invoice.chained_task_name completes.
@job_task(Invoice)
def invoice_render(invoice: Invoice) -> None:
    invoices.invoice_render(invoice=invoice)


# The second link: runs after the render however it ended; idempotent (one
# email per order), and a no-op until the invoice is final. It has no job row
# of its own to retry from, so Celery retries it: a database hiccup here must
# not cost the customer their receipt.
@shared_task(
    soft_time_limit=20,
    time_limit=25,
    autoretry_for=(Exception,),
    max_retries=5,
    retry_backoff=2,
    retry_backoff_max=60,
)
def order_paid_email(invoice_id: int) -> None:
    invoices.order_paid_email(invoice_id=invoice_id)


@shared_task(ignore_result=False, soft_time_limit=20, time_limit=25)
def orders_flag_stale() -> str:
    flagged = len(services.orders_flag_stale())
    return f"Flagged {flagged} stale order{'s' if flagged != 1 else ''}."


# Resumes after the last batch an earlier attempt saved; whatever ends it
# (out of attempts or time, or a bug) still emails the owner the summary.
@job_task(OrderImport, give_up=imports.order_import_give_up)
def order_import_run(order_import: OrderImport) -> None:
    imports.order_import_run(order_import=order_import)


# Idempotent: a run cut short leaves the rest to tomorrow's.
@shared_task(ignore_result=False, soft_time_limit=50, time_limit=60)
def order_imports_clean() -> str:
    deleted = imports.order_imports_clean()
    return f"Deleted {deleted} import file{'s' if deleted != 1 else ''}."
