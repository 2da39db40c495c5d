"""Invoices: when a payment succeeds, a worker renders the order's invoice
and then the "order paid" email goes, with the PDF attached.

Follow one invoice: `invoice_start` (inside the payment's transaction)
creates it and publishes its job; the job's message is a Celery chain
(Invoice.chained_task_name), so `invoice_render` runs, then
`order_paid_email`, whatever the render's outcome. Each link is idempotent:
a finished invoice is not rendered again (the job task base skips it), and
the email has one idempotency key per order.
"""

import logging
import secrets
from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from apps.core import pdf
from apps.core import services as jobs
from apps.notifications import services as notifications
from apps.orders.models import Invoice, Order, Payment

logger = logging.getLogger(__name__)


def invoice_start(*, order: Order) -> Invoice:
    """Create the paid order's invoice and have it rendered, then emailed;
    once per order."""
    invoice, created = Invoice.objects.get_or_create(
        order=order,
        defaults={
            "owner_id": order.owner_id,
            "stored_file": f"invoices/{secrets.token_urlsafe(24)}.pdf",
            "stage": "Waiting for a worker",
        },
    )
    if created:
        jobs.job_enqueue(invoice)
    return invoice


def invoice_render(*, invoice: Invoice) -> None:
    """Render the invoice's PDF; run by the worker once per attempt."""
    order = (
        Order.objects.select_related("owner")
        .prefetch_related("lines")
        .get(pk=invoice.order_id)
    )
    jobs.job_progress(invoice, progress=20, stage="Rendering the invoice")
    html = render_to_string(
        "orders/pdf/invoice.html",
        {
            "invoice": invoice,
            "order": order,
            "payment": paid_payment(order),
            "currency": settings.CURRENCY,
            "site_url": settings.SITE_URL,
        },
    )
    made = pdf.write_pdf(
        [html], Path(default_storage.path(invoice.stored_file)), title=str(invoice)
    )
    jobs.job_succeed(invoice, stage="Ready", pages=made.pages, size=made.size)
    logger.info("Invoice %s ready for order %s", invoice.pk, order.pk)


def paid_payment(order: Order) -> Payment | None:
    return order.payments.filter(status=Payment.Status.SUCCEEDED).first()


def order_paid_email(*, invoice_id: int) -> None:
    """Queue the "order paid" email, with the invoice attached if it was
    made; the chain's second link, run after every end of the render.

    Nothing while the invoice is not final: a duplicate delivery of the
    render that found it held by another worker ends early, and its chain
    comes here too; the delivery that finishes it comes here again.
    """
    invoice = Invoice.objects.select_related("order__owner").filter(pk=invoice_id)
    invoice = invoice.first()
    if invoice is None or not invoice.is_final:
        return
    order = invoice.order
    url = settings.SITE_URL + reverse("orders:detail", args=[order.pk])
    attached = invoice.is_ready
    with transaction.atomic():
        if attached:
            notifications.notify(
                owner=order.owner,
                kind="invoice_ready",
                message=f"The invoice for order #{order.pk} is ready.",
                url=reverse("orders:detail", args=[order.pk]),
                idempotency_key=f"invoice_ready:{invoice.pk}",
            )
        notifications.email_queue(
            owner=order.owner,
            template="order_paid",
            context={
                "order": order,
                "payment": paid_payment(order),
                "order_url": url,
                "invoice": invoice,
                "invoice_attached": attached,
            },
            idempotency_key=f"order-paid:{order.pk}",
            attachments=(
                [
                    {
                        "name": invoice.stored_file,
                        "filename": invoice.download_name,
                        "content_type": "application/pdf",
                    }
                ]
                if attached
                else []
            ),
        )


@transaction.atomic
def invoice_retry(*, invoice: Invoice) -> bool:
    """Render a failed invoice again (from the order page); False unless it
    had failed. Its email went already, so only the file is new."""
    invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
    if invoice.status != Invoice.Status.FAILED:
        return False
    jobs.job_requeue(invoice, stage="Waiting for a worker")
    return True
