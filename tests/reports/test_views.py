"""The reports pages: request, watch, open, download, again, delete; and
nobody but the owner sees any of it."""

from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from apps.reports.models import Report
from tests.factories import UserFactory
from tests.reports.reports import order_on, pdf_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def ready_report(client, user, products, django_capture_on_commit_callbacks):
    order_on(user, f"{timezone.localdate():%Y-%m-%d} 00:00", (products[0], 2))
    client.force_login(user)
    today = timezone.localdate().isoformat()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("reports:list"),
            {"kind": "order_history", "start": today, "end": today},
        )
    report = Report.objects.get()
    assert response.url == reverse("reports:detail", args=[report.pk])
    return report


def test_requesting_a_report_leads_to_its_page_which_offers_the_pdf(
    client, ready_report
):
    page = client.get(reverse("reports:detail", args=[ready_report.pk]))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Open the PDF" in html and "1 page" in html
    assert reverse("reports:file", args=[ready_report.pk]) in html


def test_the_pdf_is_served_inline_or_as_a_download_and_never_sniffed(
    client, ready_report
):
    url = reverse("reports:file", args=[ready_report.pk])

    shown = client.get(url)
    saved = client.get(url + "?download=1")

    for response in (shown, saved):
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]
        body = b"".join(response.streaming_content)
        assert body.startswith(b"%PDF-")
        assert "Order history" in pdf_text(body)
    name = ready_report.download_name
    assert shown["Content-Disposition"] == f'inline; filename="{name}"'
    assert saved["Content-Disposition"] == f'attachment; filename="{name}"'


def test_another_user_gets_404_for_every_url_of_a_report(client, ready_report):
    client.force_login(UserFactory())
    label = "reports.report"
    for url in (
        reverse("reports:detail", args=[ready_report.pk]),
        reverse("reports:file", args=[ready_report.pk]),
        reverse("reports:file", args=[ready_report.pk]) + "?download=1",
        reverse("core:job_status", args=[label, ready_report.pk]),
        reverse("core:job_list_status", args=[label]) + f"?id={ready_report.pk}",
    ):
        response = client.get(url)
        assert response.status_code == 404 or (
            # The list endpoint answers for the ids it finds: none of these.
            f"job-badge-{label}-{ready_report.pk}" not in response.content.decode()
        ), url
    for url in (
        reverse("reports:again", args=[ready_report.pk]),
        reverse("reports:delete", args=[ready_report.pk]),
        reverse("core:job_cancel", args=[label, ready_report.pk]),
    ):
        assert client.post(url).status_code == 404, url
    assert Report.objects.count() == 1


def test_logged_out_visitors_are_sent_to_log_in(client, ready_report):
    client.logout()
    response = client.get(reverse("reports:file", args=[ready_report.pk]))
    assert response.status_code == 302
    assert response.url.startswith(reverse("accounts:login"))


def test_bad_dates_come_back_with_the_reason_and_nothing_is_queued(client, user):
    client.force_login(user)
    response = client.post(
        reverse("reports:list"),
        {"kind": "sales_summary", "start": "2026-03-10", "end": "2026-03-01"},
    )
    assert response.status_code == 400
    assert "The last day must be on or after the first." in response.content.decode()
    assert not Report.objects.exists()


def test_request_again_makes_a_new_report_with_the_same_kind_and_dates(
    client, ready_report, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reports:again", args=[ready_report.pk]))
    again = Report.objects.exclude(pk=ready_report.pk).get()
    assert response.url == reverse("reports:detail", args=[again.pk])
    assert (again.kind, again.start, again.end) == (
        ready_report.kind,
        ready_report.start,
        ready_report.end,
    )
    assert again.status == "succeeded"
    assert again.stored_file != ready_report.stored_file


def test_deleting_a_report_deletes_its_file(
    client, ready_report, django_capture_on_commit_callbacks
):
    stored = ready_report.stored_file
    assert default_storage.exists(stored)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("reports:delete", args=[ready_report.pk]))
    assert response.url == reverse("reports:list")
    assert not Report.objects.exists()
    assert not default_storage.exists(stored)


def test_an_expired_report_says_so_and_serves_no_file(client, ready_report, clock):
    from apps.reports import services

    clock.shift(timedelta(days=8))
    services.reports_expire()

    page = client.get(reverse("reports:detail", args=[ready_report.pk])).content
    assert b"expired" in page and b"Request it again" in page
    assert (
        client.get(reverse("reports:file", args=[ready_report.pk])).status_code == 404
    )
    listing = client.get(reverse("reports:list")).content.decode()
    assert "Expired" in listing


def test_the_list_shows_pages_size_and_expiry(client, ready_report):
    listing = client.get(reverse("reports:list")).content.decode()
    assert "1 page" in listing
    assert f"{ready_report.expires_at:%-d %b %Y}" in listing


def test_only_download_1_asks_for_a_download(client, ready_report):
    url = reverse("reports:file", args=[ready_report.pk])
    response = client.get(url + "?download=0")
    assert response["Content-Disposition"].startswith("inline;")
