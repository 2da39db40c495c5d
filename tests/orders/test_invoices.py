"""Invoices: a paid order's PDF, rendered then emailed as an attachment by a
Celery chain whose links are each idempotent."""

import uuid
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from apps.core import services as jobs
from apps.core import sweeper
from apps.notifications.models import Notification, OutgoingEmail
from apps.orders import invoices, services, tasks
from apps.orders.models import Invoice
from tests.factories import UserFactory
from tests.reports.reports import pdf_text

pytestmark = pytest.mark.django_db

SUCCEEDS = "4242424242424242"


@pytest.fixture
def order(user, products):
    mug, tee = products[2], products[4]  # MUG-01 12.00, TEE-01 24.50
    return services.order_place(
        owner=user, quantities={mug.pk: 2, tee.pk: 1}, checkout_token=uuid.uuid4()
    )


@pytest.fixture
def pay(django_capture_on_commit_callbacks):
    def pay(order):
        with django_capture_on_commit_callbacks(execute=True):
            services.payment_start(order=order, card_number=SUCCEEDS)
        return Invoice.objects.get(order=order)

    return pay


def test_a_paid_order_gets_its_invoice_attached_to_the_order_paid_email(order, pay):
    invoice = pay(order)

    assert invoice.status == "succeeded" and invoice.pages == 1
    [sent] = mail.outbox
    assert sent.subject == f"Order #{order.pk} is paid"
    [(filename, content, content_type)] = sent.attachments
    assert filename == f"invoice-INV-{order.pk:06d}.pdf"
    assert content_type == "application/pdf"
    text = pdf_text(content)
    assert f"Invoice INV-{order.pk:06d}" in text
    assert "Celery mug" in text and "Broker T-shirt" in text
    assert "24.00" in text and "24.50" in text and "48.50" in text
    assert order.owner.email in text
    assert f"invoice INV-{order.pk:06d} is attached" in sent.body
    kinds = set(
        Notification.objects.filter(owner=order.owner).values_list("kind", flat=True)
    )
    assert kinds == {"payment_paid", "invoice_ready"}


def test_the_chain_run_twice_renders_once_and_sends_one_email_with_one_attachment(
    order, pay, django_capture_on_commit_callbacks
):
    invoice = pay(order)

    # Both links delivered again, as a redelivery after a lost ack would.
    with django_capture_on_commit_callbacks(execute=True):
        tasks.invoice_render.delay(invoice.pk)
        tasks.order_paid_email.delay(invoice.pk)
        jobs._publish(
            Invoice, invoice.pk, invoice.task_id, Invoice.task_name
        )  # The whole chain.

    invoice.refresh_from_db()
    assert invoice.attempts == 1
    assert OutgoingEmail.objects.filter(template="order_paid").count() == 1
    assert len(mail.outbox) == 1 and len(mail.outbox[0].attachments) == 1


def test_a_failed_render_still_sends_the_email_without_the_attachment_saying_so(
    order, pay, monkeypatch
):
    from apps.core import pdf

    def broken(html):
        raise RuntimeError("WeasyPrint fell over")

    monkeypatch.setattr(pdf, "html_to_pdf", broken)

    invoice = pay(order)

    assert invoice.status == "failed"
    [sent] = mail.outbox
    assert sent.attachments == []
    assert "could not make your invoice just now" in sent.body
    assert not default_storage.exists(invoice.stored_file)
    assert not Notification.objects.filter(kind="invoice_ready").exists()


def test_the_email_waits_while_the_invoice_is_still_being_rendered(
    order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        services.payment_start(order=order, card_number=SUCCEEDS)
    with django_capture_on_commit_callbacks(execute=False):
        tasks.payment_process.delay(order.payments.get().pk)
    invoice = Invoice.objects.get()
    jobs.job_start(invoice, task_id=invoice.task_id)  # Another worker holds it.

    tasks.order_paid_email.delay(invoice.pk)  # A duplicate delivery's chain.

    assert not OutgoingEmail.objects.filter(template="order_paid").exists()


def test_the_sweeper_republishes_a_lost_invoice_with_its_email_step(
    order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        services.payment_start(order=order, card_number=SUCCEEDS)
    with django_capture_on_commit_callbacks(execute=False):  # Message lost.
        tasks.payment_process.delay(order.payments.get().pk)
    Invoice.objects.update(enqueued_at=timezone.now() - timedelta(minutes=5))

    with django_capture_on_commit_callbacks(execute=True):
        assert sweeper.jobs_sweep() == 1

    assert Invoice.objects.get().status == "succeeded"
    assert len(mail.outbox) == 1 and len(mail.outbox[0].attachments) == 1


def test_the_owner_downloads_the_invoice_and_nobody_else_can(client, order, pay):
    invoice = pay(order)
    url = reverse("orders:invoice", args=[order.pk])
    client.force_login(order.owner)

    page = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert f"Open invoice {invoice.number}" in page and url in page
    response = client.get(url + "?download=1")
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        f'attachment; filename="{invoice.download_name}"'
    )
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"".join(response.streaming_content).startswith(b"%PDF-")

    client.force_login(UserFactory(is_staff=True))
    assert client.get(url).status_code == 404
    assert (
        client.post(reverse("orders:invoice_retry", args=[order.pk])).status_code == 404
    )


def test_only_the_recipient_downloads_an_emails_attachment(client, order, pay):
    pay(order)
    email = OutgoingEmail.objects.get(template="order_paid")
    url = reverse("notifications:email_attachment", args=[email.pk, 1])

    client.force_login(order.owner)
    detail = client.get(reverse("notifications:email_detail", args=[email.pk]))
    assert url in detail.content.decode()
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF-")
    assert client.get(url.replace("/1/", "/2/")).status_code == 404

    # Staff read receipts in the mailbox, but not their attachments.
    client.force_login(UserFactory(is_staff=True))
    assert client.get(url).status_code == 404


def test_a_failed_invoice_can_be_made_again_without_a_second_email(
    client, order, pay, monkeypatch, django_capture_on_commit_callbacks
):
    from apps.core import pdf

    real = pdf.html_to_pdf
    monkeypatch.setattr(pdf, "html_to_pdf", lambda html: 1 / 0)
    invoice = pay(order)
    assert invoice.status == "failed"
    monkeypatch.setattr(pdf, "html_to_pdf", real)
    client.force_login(order.owner)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("orders:invoice_retry", args=[order.pk]))

    invoice.refresh_from_db()
    assert invoice.status == "succeeded"
    assert default_storage.exists(invoice.stored_file)
    assert len(mail.outbox) == 1  # The email went already, saying so.
    assert not invoices.invoice_retry(invoice=invoice)  # Only a failed one.
