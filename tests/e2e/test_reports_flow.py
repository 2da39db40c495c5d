"""PDF reports and invoices in a real browser, with a real worker behind them:
requesting a report and watching it being made, downloading the PDF; paying an
order, then its invoice on the order page and attached to the "paid" email."""

import io
import re
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from pypdf import PdfReader

from apps.orders import services
from apps.orders.models import Invoice, Order
from apps.reports.models import Report
from tests.e2e.steps import WORKER_TIMEOUT, log_in, nav
from tests.processes import wait_until
from tests.reports.reports import order_on

pytestmark = [pytest.mark.e2e]

# The status box's data-status and stage each time it changes: a record of what
# the page showed, kept in the page itself (a reload would lose it).
RECORD_STATUS_CHANGES = """() => {
  window.loadedOnce = true;
  window.statusSeen = [];
  const record = () => {
    const box = document.querySelector('.job-status');
    if (!box) return;
    const stage = box.querySelector('.job-stage');
    const seen = box.dataset.status + ': ' + (stage ? stage.textContent.trim() : '');
    if (window.statusSeen[window.statusSeen.length - 1] !== seen) {
      window.statusSeen.push(seen);
    }
  };
  record();
  new MutationObserver(record).observe(document.querySelector('main'), {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
}"""


@pytest.fixture
def worker_env(live_server):
    # Two orders a part: a few orders make a report of several parts, so the
    # report stays a while in "Rendering pages", its progress moving.
    return {"SITE_URL": live_server.url, "REPORT_ROWS_PER_PART": "2"}


@pytest.fixture
def shopper(page: Page, user, password, products):
    page.goto("/")
    log_in(page, user.email, password)
    return user


def pdf_of(download) -> tuple[bytes, str]:
    """The downloaded file's bytes, and its text as pypdf reads it."""
    with open(download.path(), "rb") as file:
        data = file.read()
    reader = PdfReader(io.BytesIO(data))
    return data, "\n".join(page.extract_text() for page in reader.pages)


def test_request_an_order_history_watch_it_being_made_then_download_the_pdf(
    page: Page, shopper, products, worker_paused, screenshot
):
    today = timezone.localdate()
    start, end = today - timedelta(days=30), today
    orders = [
        order_on(
            shopper,
            f"{today - timedelta(days=20 - n):%Y-%m-%d} 10:00",
            (products[n % len(products)], n + 1),
            external_id=f"SHOP-{1040 + n}",
        )
        for n in range(8)
    ]
    # Outside the dates: not in the report.
    order_on(
        shopper,
        f"{start - timedelta(days=1):%Y-%m-%d} 10:00",
        (products[0], 1),
        external_id="SHOP-EARLIER",
    )

    nav(page).get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    expect(page.get_by_text("No reports yet.")).to_be_visible()
    # Each kind is one choice: its radio button starts the first line of the
    # text that says what it holds.
    for choice in page.get_by_role("radio").all():
        label = page.locator(f"label[for='{choice.get_attribute('id')}']")
        radio, text = choice.bounding_box(), label.bounding_box()
        assert abs(radio["x"] - text["x"]) < 8, label.inner_text()
        assert text["y"] <= radio["y"] < text["y"] + 24, label.inner_text()
    page.get_by_role("radio", name="Order history").check()
    page.get_by_label("From", exact=True).fill(start.isoformat())
    page.get_by_label("To (included)").fill(end.isoformat())

    status = page.locator(".job-status")
    with worker_paused():
        page.get_by_role("button", name="Request the report").click()
        expect(page).to_have_url(re.compile(r"/reports/\d+/$"))
        report = Report.objects.get(owner=shopper)
        expect(page.get_by_role("heading", name="Order history")).to_be_visible()
        expect(page.locator("main")).to_contain_text(
            f"{start:%-d %b %Y} to {end:%-d %b %Y}, requested"
        )
        expect(status).to_have_attribute("data-status", "queued")
        expect(status.locator(".job-stage")).to_have_text("Waiting for a worker")
        expect(status.get_by_role("progressbar")).to_be_visible()
        report_url = page.url
        page.evaluate(RECORD_STATUS_CHANGES)

    # Held part-way through the pages, the page shows it running, by itself.
    wait_until(
        Report.objects.filter(
            pk=report.pk, status=Report.Status.RUNNING, stage__startswith="Rendering"
        ).exists,
        timeout=WORKER_TIMEOUT / 1000,
        interval=0.02,
        message="the report was never seen rendering",
    )
    with worker_paused():
        expect(status).to_have_attribute("data-status", "running")
        expect(status.locator(".badge")).to_have_text("Running")
        expect(status.locator(".job-stage")).to_have_text(
            re.compile(r"^Rendering pages")
        )
        bar = status.get_by_role("progressbar")
        value = int(bar.get_attribute("aria-valuenow"))
        assert 10 <= value < 90, value
        expect(status.get_by_role("button", name="Cancel")).to_be_visible()

    expect(status).to_have_attribute("data-status", "succeeded", timeout=WORKER_TIMEOUT)
    expect(status.locator(".badge")).to_have_text("Succeeded")
    report.refresh_from_db()
    pages = report.pages
    expect(status.locator(".job-stage")).to_have_text("Ready")
    expect(status.locator(".job-done")).to_contain_text(
        f"{pages} page{'s' if pages != 1 else ''}, "
    )
    expect(status.locator(".job-done")).to_contain_text(", 8 orders. Kept until ")
    expect(status.get_by_role("progressbar")).to_have_count(0)
    expect(status.get_by_role("button", name="Cancel")).to_have_count(0)
    # What to do with it now came with the final state too.
    expect(status.get_by_role("button", name="Request again")).to_be_visible()
    expect(status.get_by_role("button", name="Delete this report")).to_be_visible()
    file_url = f"/reports/{report.pk}/report.pdf"
    open_link = status.get_by_role("link", name="Open the PDF")
    expect(open_link).to_have_attribute("href", file_url)
    expect(open_link).to_have_attribute("target", "_blank")
    download_link = status.get_by_role("link", name="Download")
    expect(download_link).to_have_attribute("href", f"{file_url}?download=1")
    # All of that came into the page that was there: no reload, no navigation.
    assert page.evaluate("window.loadedOnce") is True, "the page was reloaded"
    assert page.url == report_url
    seen = page.evaluate("window.statusSeen")
    assert seen[0] == "queued: Waiting for a worker", seen
    assert any(re.match(r"running: Rendering pages", s) for s in seen), seen
    assert seen[-1] == "succeeded: Ready", seen
    screenshot("report-done")

    with page.expect_download() as download:
        download_link.click()
    assert download.value.suggested_filename == f"order-history-{start}-to-{end}.pdf"
    data, text = pdf_of(download.value)
    assert data.startswith(b"%PDF-")
    assert "Order history" in text
    for order in orders:
        assert f"#{order.pk} ({order.external_id})" in text, order.external_id
    assert "SHOP-EARLIER" not in text
    assert "8 orders" in text
    # "Open the PDF" shows the same file in the browser.
    shown = page.request.get(file_url)
    assert shown.headers["content-type"] == "application/pdf"
    assert shown.headers["content-disposition"].startswith("inline;")
    assert shown.body() == data

    # Narrow, the finished report's page fits the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(status.get_by_role("link", name="Download")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("report-done-390")

    page.set_viewport_size({"width": 1280, "height": 800})
    nav(page).get_by_role("link", name="Reports").click()
    row = page.get_by_role("row").filter(has_text=f"Order history #{report.pk}")
    expect(row.get_by_role("cell").nth(1)).to_have_text(
        f"{start:%b %-d, %Y} – {end:%b %-d, %Y}"
    )
    badge = row.locator(".job-badge")
    expect(badge.locator(".badge")).to_have_text("Succeeded")
    expect(badge).to_contain_text(f"PDF, {pages} page")
    expect(row.get_by_role("button", name="Request again")).to_be_visible()
    screenshot("reports-list")

    page.set_viewport_size({"width": 390, "height": 844})
    labels = row.get_by_role("cell").evaluate_all(
        "cells => cells.map(c => getComputedStyle(c, '::before').content)"
    )
    assert labels == [
        '"Report"',
        '"Dates"',
        '"Requested"',
        '"State"',
        '"Kept until"',
        '"Again"',
    ]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("reports-list-390")


def test_paying_an_order_makes_its_invoice_which_the_paid_email_carries(
    page: Page, shopper, products, worker_paused, screenshot
):
    by_sku = {product.sku: product for product in products}
    order = services.order_place(
        owner=shopper,
        quantities={by_sku["MUG-01"].pk: 2, by_sku["STK-01"].pk: 1},
        checkout_token=uuid.uuid4(),
    )
    number = f"INV-{order.pk:06d}"
    page.goto(f"/orders/{order.pk}/")
    order_url = page.url

    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)").fill("12/34")
    page.get_by_label("CVC").fill("123")
    payment = page.locator(".payment-panel > .job-status")
    # Held, the worker leaves the page time to load before anything is paid:
    # all that follows comes into this page as it is.
    with worker_paused():
        page.get_by_role("button", name="Pay $28.99").click()
        expect(payment).to_have_attribute("data-status", "queued")
        expect(page.locator(".invoice-panel")).to_be_hidden()
        page.evaluate("window.loadedOnce = true")

    expect(payment).to_have_attribute(
        "data-status", "succeeded", timeout=WORKER_TIMEOUT
    )
    expect(page.locator(".page-head .badge")).to_have_text("Paid")
    panel = page.locator(".invoice-panel")
    expect(panel.get_by_role("heading", name=f"Invoice {number}")).to_be_visible()
    invoice_box = panel.locator(".job-status")
    expect(invoice_box).to_have_attribute(
        "data-status", "succeeded", timeout=WORKER_TIMEOUT
    )
    expect(invoice_box.locator(".job-stage")).to_have_text("Ready")
    invoice_url = f"/orders/{order.pk}/invoice.pdf"
    expect(
        invoice_box.get_by_role("link", name=f"Open invoice {number}")
    ).to_have_attribute("href", invoice_url)
    download_link = invoice_box.get_by_role(
        "link", name=re.compile(r"^Download \(PDF, [\d.]+\s(bytes|KB)\)$")
    )
    expect(download_link).to_have_attribute("href", f"{invoice_url}?download=1")
    assert page.evaluate("window.loadedOnce") is True, "the page was reloaded"
    assert page.url == order_url
    screenshot("order-invoice")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(download_link).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("order-invoice-390")
    page.set_viewport_size({"width": 1280, "height": 800})

    with page.expect_download() as download:
        download_link.click()
    assert download.value.suggested_filename == f"invoice-{number}.pdf"
    data, text = pdf_of(download.value)
    assert data.startswith(b"%PDF-")
    assert f"Invoice {number}" in text

    nav(page).get_by_role("link", name="Mailbox").click()
    email = page.get_by_role("row").filter(has_text=f"Order #{order.pk} is paid")
    expect(email).to_contain_text(shopper.email)
    expect(email.locator(".badge")).to_have_text("Sent", timeout=WORKER_TIMEOUT)
    expect(email).to_contain_text("(1 attachment)")
    email.get_by_role("link", name=f"Order #{order.pk} is paid").click()
    expect(
        page.get_by_role("heading", name=f"Order #{order.pk} is paid")
    ).to_be_visible()
    attached = page.locator(".email .details dt:text-is('Attached') + dd")
    attachment = attached.get_by_role("link", name=f"invoice-{number}.pdf")
    expect(attachment).to_be_visible()
    screenshot("email-invoice-attached")

    with page.expect_download() as download:
        attachment.click()
    assert download.value.suggested_filename == f"invoice-{number}.pdf"
    data, text = pdf_of(download.value)
    assert data.startswith(b"%PDF-")
    assert f"Invoice {number}" in text
    assert f"order #{order.pk}" in text
    assert shopper.email in text
    assert "card ending 4242" in text
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert Invoice.objects.get(order=order).status == Invoice.Status.SUCCEEDED
