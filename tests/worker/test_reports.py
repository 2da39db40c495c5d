"""Reports and invoices through a real Redis broker and a real `celery worker`."""

import io
from datetime import date
from pathlib import Path

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone
from pypdf import PdfReader

from apps.notifications.models import OutgoingEmail
from apps.orders import services as orders
from apps.orders.models import Invoice
from apps.reports import services, tasks
from apps.reports.models import Report
from tests.processes import wait_until
from tests.reports.reports import order_on
from tests.worker.emails import sent_messages
from tests.worker.payments import SUCCEEDS

pytestmark = [pytest.mark.worker]


@pytest.fixture
def worker_env():
    # Parts of 100 orders: the test's 240 orders make a PDF of three parts.
    return {"REPORT_ROWS_PER_PART": "100", "PAYMENT_GATEWAY_LATENCY": "0"}


def ended(report: Report, worker, timeout=60) -> Report:
    wait_until(
        lambda: Report.objects.get(pk=report.pk).is_final,
        timeout=timeout,
        message=f"the report did not end:\n{worker.output()}",
    )
    report.refresh_from_db()
    return report


def test_a_worker_makes_a_valid_multi_page_pdf_and_emails_its_owner(
    celery_worker, user, products
):
    today = timezone.localdate()
    for number in range(240):
        order_on(user, f"{today:%Y-%m-%d} 00:00", (products[number % 5], 1))

    report = services.report_request(
        owner=user, kind="order_history", start=today.replace(day=1), end=today
    )

    report = ended(report, celery_worker)
    assert report.status == "succeeded", report.error_message
    with default_storage.open(report.stored_file, "rb") as file:
        reader = PdfReader(io.BytesIO(file.read()))
    assert len(reader.pages) == report.pages > 3
    last = reader.pages[-1].extract_text()
    assert f"Page {report.pages} of {report.pages}" in last and "240 orders" in last
    assert report.attempt_history.get().outcome == "succeeded"
    wait_until(
        lambda: OutgoingEmail.objects.filter(
            owner=user, template="report_done", status="succeeded"
        ).exists(),
        timeout=15,
    )


@pytest.mark.parametrize("worker_env", [{"REPORT_SOFT_TIME_LIMIT": "1"}])
def test_the_soft_time_limit_fails_the_report_and_leaves_no_file(
    celery_worker, user, products, monkeypatch
):
    # The publisher puts the limits in the message, and the worker obeys
    # those: here, as in production, both sides read the same setting.
    monkeypatch.setattr(Report, "soft_time_limit", 1)
    monkeypatch.setattr(tasks.report_generate, "soft_time_limit", 1)
    monkeypatch.setattr(tasks.report_generate, "time_limit", 31)
    for number in range(1500):
        order_on(user, f"2026-03-{number % 28 + 1:02d} 09:00", (products[0], 1))

    report = services.report_request(
        owner=user, kind="order_history", start=date(2026, 3, 1), end=date(2026, 3, 31)
    )

    report = ended(report, celery_worker)
    assert report.status == "failed"
    assert report.error_message.startswith("This took longer than the 1 seconds")
    folder = Path(default_storage.path("reports"))
    assert not folder.exists() or list(folder.iterdir()) == []  # Nor a part.


def test_a_paid_order_is_emailed_with_its_invoice_attached(
    start_worker, order, tmp_path
):
    mail_dir = tmp_path / "mail"
    worker = start_worker(EMAIL_URL=f"filemail:///{mail_dir}")
    orders.payment_start(order=order, card_number=SUCCEEDS)

    wait_until(
        lambda: OutgoingEmail.objects.filter(
            template="order_paid", status="succeeded"
        ).exists(),
        timeout=30,
        message=f"no order-paid email:\n{worker.output()}",
    )
    invoice = Invoice.objects.get(order=order)
    assert invoice.status == "succeeded"
    [message] = sent_messages(mail_dir)
    [attachment] = [part for part in message.walk() if part.get_filename()]
    assert attachment.get_filename() == invoice.download_name
    assert attachment.get_content_type() == "application/pdf"
    data = attachment.get_payload(decode=True)
    assert (
        PdfReader(io.BytesIO(data))
        .pages[0]
        .extract_text()
        .startswith(f"Invoice {invoice.number}")
    )
