"""PDF reports, run inline (eager): what the PDF holds, who may see it, the
dates, the row cap, the time limit, cancel, expiry and deletion."""

from datetime import date, timedelta
from pathlib import Path

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core import mail
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from apps.notifications.models import Notification
from apps.orders.models import Order
from apps.reports import forms, services, tasks
from apps.reports.models import Report
from tests.factories import UserFactory
from tests.reports.reports import order_on, pdf_pages, pdf_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_report(django_capture_on_commit_callbacks):
    """Request a report as `owner` and run it to its end (eagerly)."""

    def run(owner, kind="order_history", start="2026-03-01", end="2026-03-31"):
        with django_capture_on_commit_callbacks(execute=True):
            report = services.report_request(
                owner=owner,
                kind=kind,
                start=date.fromisoformat(start),
                end=date.fromisoformat(end),
            )
        report.refresh_from_db()
        return report

    return run


def squeezed(text: str) -> str:
    """The text without its spaces and line breaks: a table cell wraps its
    text where it likes."""
    return "".join(text.split())


def stored_pdf(report: Report) -> bytes:
    with default_storage.open(report.stored_file, "rb") as file:
        return file.read()


def test_order_history_lists_the_owners_orders_in_range_and_none_of_anyone_elses(
    user, products, request_report
):
    mug, tee = products[0], products[1]
    order_on(user, "2026-03-02 09:00", (mug, 2), external_id="MINE-1")
    order_on(user, "2026-03-31 23:30", (tee, 1), status=Order.Status.AWAITING_PAYMENT)
    order_on(user, "2026-04-01 00:00", (tee, 5), external_id="NEXT-MONTH")
    order_on(UserFactory(), "2026-03-05 10:00", (mug, 1), external_id="THEIRS-1")

    report = request_report(user)

    assert report.status == "succeeded", report.error_message
    assert report.rows == 2 and report.pages == 1
    text = pdf_text(stored_pdf(report))
    assert "MINE-1" in text and "Awaitingpayment" in squeezed(text)
    assert "THEIRS-1" not in text and "NEXT-MONTH" not in text
    total = mug.price * 2 + tee.price
    assert f"{total:,.2f}" in text
    assert "2 orders" in text
    assert "Page 1 of 1" in text


def test_a_long_order_history_repeats_its_header_and_numbers_every_page(
    user, products, request_report, settings
):
    settings.REPORT_ROWS_PER_PART = 60  # Several parts, joined into one file.
    for number in range(150):
        order_on(
            user,
            f"2026-03-{number % 28 + 1:02d} 10:00",
            (products[number % 3], 1),
            external_id=f"E-{number:04d}",
        )

    report = request_report(user)

    data = stored_pdf(report)
    pages = pdf_pages(data)
    assert report.pages == pages >= 3 and report.size == len(data)
    import io

    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data))
    for number, page in enumerate(reader.pages, start=1):
        text = page.extract_text()
        assert "Placed" in text and "Total (USD)" in text  # The header row.
        assert f"Page {number} of {pages}" in text
    text = pdf_text(data)
    assert all(f"E-{number:04d}" in text for number in range(150))
    assert "150 orders" in text


def test_sales_summary_totals_by_day_and_by_product_with_a_chart(
    user, products, request_report
):
    mug, tee = products[0], products[1]
    order_on(user, "2026-03-02 09:00", (mug, 2), (tee, 1))
    order_on(user, "2026-03-02 18:00", (mug, 1))
    order_on(user, "2026-03-09 12:00", (tee, 3))
    order_on(user, "2026-03-10 12:00", (tee, 9), status=Order.Status.PAYMENT_FAILED)

    report = request_report(user, kind="sales_summary")

    text = pdf_text(stored_pdf(report))
    revenue = mug.price * 3 + tee.price * 4
    assert f"{revenue:,.2f}" in text
    assert f"{(mug.price * 3 + tee.price):,.2f}" in text  # March 2.
    assert f"{(tee.price * 3):,.2f}" in text  # March 9.
    assert mug.sku in text and tee.sku in text
    assert "Revenue by day" in text
    assert report.rows == 3  # Paid orders only.


def test_failed_payments_come_from_the_attempt_history(
    user, products, request_report, django_capture_on_commit_callbacks
):
    from apps.orders import services as orders

    order = order_on(
        user, "2026-03-02 09:00", (products[0], 1), status=Order.Status.AWAITING_PAYMENT
    )
    with django_capture_on_commit_callbacks(execute=True):
        orders.payment_start(order=order, card_number="4000000000000002")
    today = timezone.localdate().isoformat()

    report = request_report(user, kind="failed_payments", start=today, end=today)

    text = pdf_text(stored_pdf(report))
    assert report.rows == 1
    assert f"#{order.pk}" in text and "0002" in text
    assert "Yourcardwasdeclined.Gaveup" in squeezed(text)


def test_user_text_appears_as_text_and_the_render_fetches_nothing(
    user, products, request_report, counting_server
):
    url = f"http://127.0.0.1:{counting_server.port}/x.png"
    order = order_on(
        user,
        "2026-03-02 09:00",
        (products[0], 1),
        external_id=f'<img src="{url}">'[:64],
        product_name=(
            '<b>Bold</b> <img src="file:///etc/passwd"> '
            f'<link rel="stylesheet" href="{url}">'
        ),
    )
    user.email = "a+<i>@example.com"
    user.save()

    report = request_report(user)

    text = squeezed(pdf_text(stored_pdf(report)))
    assert squeezed(f'#{order.pk} (<img src="{url}">)') in text
    assert squeezed('<b>Bold</b> <img src="file:///etc/passwd">') in text
    assert "a+<i>@example.com" in text
    assert counting_server.requests == []


def test_the_pdf_fetcher_refuses_everything_but_bundled_assets(
    counting_server, tmp_path, settings
):
    from apps.core import pdf

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    escape = Path(settings.PDF_ASSETS_DIR) / ".." / ".." / "README.md"
    url = f"http://127.0.0.1:{counting_server.port}"
    html = (
        '<link rel="stylesheet" href="pdf.css">'
        f'<img src="{url}/img.png"><link rel="stylesheet" href="{url}/x.css">'
        f'<img src="{secret.as_uri()}"><img src="{escape.resolve().as_uri()}">'
        f'<object data="{secret.as_uri()}"></object>'
        f'<iframe src="{url}/frame"></iframe><p>Body</p>'
    )

    data = pdf.html_to_pdf(html)

    assert counting_server.requests == []
    assert "TOP SECRET" not in pdf_text(data)
    fetcher = pdf.BundledAssetsOnly()
    for refused in (
        f"{url}/a.png",
        secret.as_uri(),
        escape.resolve().as_uri(),
        "ftp://127.0.0.1/x",
        "file:///etc/passwd",
    ):
        with pytest.raises(ValueError):
            fetcher.fetch(refused)
    # The bundled stylesheet and a data: URL load.
    assert fetcher.fetch(pdf.assets_url() + "pdf.css").read().startswith(b"/*")
    assert fetcher.fetch("data:text/plain,hi").read() == b"hi"


def test_a_report_over_the_row_cap_fails_with_a_clear_message_and_no_file(
    user, products, request_report, settings
):
    settings.REPORT_MAX_ROWS = 2
    for day in (2, 3, 4):
        order_on(user, f"2026-03-0{day} 09:00", (products[0], 1))

    report = request_report(user)

    assert report.status == "failed"
    assert report.error_message == (
        "These dates hold 3 rows; a report holds at most 2. Choose a shorter range."
    )
    assert not default_storage.exists(report.stored_file)
    assert Notification.objects.get(owner=user).kind == "report_failed"


def test_the_soft_time_limit_ends_the_report_failed_with_no_partial_file(
    user, products, request_report, settings, monkeypatch
):
    from apps.core import pdf

    settings.REPORT_ROWS_PER_PART = 5
    for number in range(20):
        order_on(user, f"2026-03-{number + 1:02d} 09:00", (products[0], 1))
    rendered = []
    real = pdf.html_to_pdf

    def slow(html):
        if len(rendered) == 2:  # The third part: the limit strikes mid-file.
            raise SoftTimeLimitExceeded
        rendered.append(1)
        return real(html)

    monkeypatch.setattr(pdf, "html_to_pdf", slow)

    report = request_report(user)

    assert report.status == "failed"
    assert "took longer than the" in report.error_message
    folder = Path(default_storage.path(report.stored_file)).parent
    assert list(folder.iterdir()) == []  # Neither the file nor its part.
    assert "could not be made" in mail.outbox[-1].subject


def test_a_ready_report_tells_its_owner_once(user, products, request_report):
    order_on(user, "2026-03-02 09:00", (products[0], 1))

    report = request_report(user)
    tasks.report_generate.delay(report.pk)  # Redelivered: nothing new.

    assert [n.kind for n in Notification.objects.filter(owner=user)] == ["report_ready"]
    assert len(mail.outbox) == 1
    assert "Your report is ready" in mail.outbox[0].subject
    assert reverse("reports:detail", args=[report.pk]) in mail.outbox[0].body
    assert report.expires_at > timezone.now() + timedelta(days=6)


def test_cancelling_a_running_report_stops_it_at_the_next_part(
    user, products, request_report, settings, monkeypatch
):
    from apps.core import cancel, pdf

    settings.REPORT_ROWS_PER_PART = 5
    for number in range(20):
        order_on(user, f"2026-03-{number + 1:02d} 09:00", (products[0], 1))
    real = pdf.html_to_pdf

    def cancel_during_render(html):
        report = Report.objects.get()
        cancel.job_cancel(report)  # The owner presses Cancel meanwhile.
        return real(html)

    monkeypatch.setattr(pdf, "html_to_pdf", cancel_during_render)

    report = request_report(user)

    assert report.status == "cancelled"
    assert not default_storage.exists(report.stored_file)


def test_expired_reports_lose_their_file_and_keep_their_row(
    user, products, request_report, clock
):
    order_on(user, "2026-03-02 09:00", (products[0], 1))
    report = request_report(user)
    stored = report.stored_file
    assert default_storage.exists(stored)

    clock.shift(timedelta(days=6))
    assert services.reports_expire() == 0
    clock.shift(timedelta(days=2))
    assert services.reports_expire() == 1
    assert services.reports_expire() == 0  # Idempotent.

    report.refresh_from_db()
    assert not default_storage.exists(stored)
    assert report.expired_at and not report.stored_file and not report.is_ready


# The form


@pytest.mark.parametrize(
    "start, end, error",
    [
        ("2026-03-10", "2026-03-01", "The last day must be on or after the first."),
        ("2025-01-01", "2026-01-31", "A report covers at most a year (366 days)"),
        ("2026-03-01", "2099-01-01", "The report cannot go past today."),
        ("2099-01-01", "2099-01-02", "The report cannot start in the future."),
        ("yesterday", "2026-03-01", "Enter the first day as a date"),
    ],
)
def test_the_form_refuses_bad_dates(start, end, error, clock):
    form = forms.ReportForm({"kind": "sales_summary", "start": start, "end": end})
    assert not form.is_valid()
    assert error in str(form.errors)


def test_the_form_takes_a_whole_leap_year_up_to_today():
    today = timezone.localdate()
    form = forms.ReportForm(
        {
            "kind": "order_history",
            "start": (today - timedelta(days=365)).isoformat(),
            "end": today.isoformat(),
        }
    )
    assert form.is_valid(), form.errors


def test_a_user_may_have_three_reports_in_progress(user):
    for _ in range(3):
        services.report_request(
            owner=user,
            kind="sales_summary",
            start=date(2026, 1, 1),
            end=date(2026, 1, 2),
        )
    with pytest.raises(services.TooManyReports):
        services.report_request(
            owner=user,
            kind="sales_summary",
            start=date(2026, 1, 1),
            end=date(2026, 1, 2),
        )


def text_positions(data: bytes) -> tuple[float, list[tuple[str, float]]]:
    """The page width and every piece of text on page 1 with its x."""
    import io

    from pypdf import PdfReader

    page = PdfReader(io.BytesIO(data)).pages[0]
    found = []

    def visit(text, cm, tm, font, size):
        if text.strip():
            found.append((text.strip(), cm[0] * tm[4] + cm[2] * tm[5] + cm[4]))

    page.extract_text(visitor_text=visit)
    return float(page.mediabox.width), found


def test_a_long_unbroken_value_wraps_and_keeps_every_column_on_the_page(
    user, products, request_report
):
    sha256 = "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"
    order_on(user, "2026-03-02 09:00", (products[0], 1), external_id=sha256)

    report = request_report(user)

    width, found = text_positions(stored_pdf(report))
    amount = f"{products[0].price:,.2f}"
    # Each run of text starts well inside the page, the amount's included.
    assert any(text.endswith(amount) for text, _ in found), found
    assert max(x for _, x in found) < width - 50, (width, found)


def test_orders_arriving_during_the_render_are_left_out_of_rows_and_totals(
    user, products, request_report, settings, monkeypatch
):
    from apps.core import pdf

    settings.REPORT_ROWS_PER_PART = 2
    for day in range(1, 6):
        order_on(user, f"2026-03-0{day} 09:00", (products[0], 1))
    real, added = pdf.html_to_pdf, []

    def add_an_order_meanwhile(html):
        if not added:  # An import lands while the first part renders.
            added.append(
                order_on(user, "2026-03-09 09:00", (products[1], 7), external_id="LATE")
            )
        return real(html)

    monkeypatch.setattr(pdf, "html_to_pdf", add_an_order_meanwhile)

    report = request_report(user)

    text = pdf_text(stored_pdf(report))
    assert report.rows == 5 and "LATE" not in text
    assert text.count("5 orders") == 1
    assert f"{products[0].price * 5:,.2f}" in text


def test_the_row_cap_does_not_apply_to_a_sales_summary(
    user, products, request_report, settings
):
    settings.REPORT_MAX_ROWS = 1
    for day in (2, 3, 4):
        order_on(user, f"2026-03-0{day} 09:00", (products[0], 1))

    report = request_report(user, kind="sales_summary")

    assert report.status == "succeeded" and report.rows == 3


def test_the_chart_has_a_bar_for_every_day_of_the_range(user, products):
    from apps.reports import kinds

    order_on(user, "2026-03-02 09:00", (products[0], 1))
    report = Report(owner=user, kind="sales_summary", start=date(2026, 3, 1))
    report.end = date(2026, 3, 31)

    [(html, rows)] = list(kinds.html_parts(report, upto=10**9))

    assert html.count("<rect ") == 31 and rows == 1


def test_a_part_left_by_a_killed_worker_is_cleaned_up_after_an_hour(
    user, products, request_report
):
    import os

    folder = Path(default_storage.path("reports"))
    folder.mkdir(parents=True, exist_ok=True)
    stale, fresh = folder / ".old.pdf.1.part", folder / ".new.pdf.2.part"
    stale.write_bytes(b"%PDF-half")
    fresh.write_bytes(b"%PDF-half")
    hour_ago = timezone.now().timestamp() - 3700
    os.utime(stale, (hour_ago, hour_ago))

    services.reports_expire()

    assert not stale.exists() and fresh.exists()
