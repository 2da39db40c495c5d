"""The operations page in a real browser, with a real worker: a job that
fails appears by itself; ticked and retried, the worker runs it again and
the list empties; the action is in the log."""

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.notifications import services as notifications
from apps.notifications.models import OutgoingEmail
from tests.e2e.steps import WORKER_TIMEOUT, log_in, nav
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e]


def test_a_failed_job_appears_by_itself_and_is_retried(
    page: Page, password, screenshot, worker_paused
):
    staff = UserFactory(is_staff=True)
    page.goto("/")
    log_in(page, staff.email, password)
    nav(page).get_by_role("link", name="Operations").click()
    expect(page.get_by_role("heading", name="Operations")).to_be_visible()
    expect(page.locator("#ops-queues")).to_contain_text("answered just now")
    failed = page.locator("#failed")
    expect(failed).to_contain_text("None.")
    page.evaluate("window.loadedOnce = true")

    with worker_paused():  # Created here, not sent by the worker.
        emails = [
            notifications.email_queue(
                owner=UserFactory(), template="welcome", context={}
            )
            for _ in range(2)
        ]
    email = emails[0]
    OutgoingEmail.objects.filter(pk__in=[e.pk for e in emails]).update(
        status="failed",
        attempts=5,
        error_message="The mail server refused the email (550).",
        finished_at=timezone.now(),
    )

    expect(failed).to_contain_text("refused the email (550)", timeout=WORKER_TIMEOUT)
    screenshot("operations")
    expect(failed.get_by_role("checkbox", name="Tick every failed job")).to_be_visible()
    expect(failed.locator("tbody tr")).to_have_count(2)
    failed.get_by_role("checkbox", name="Tick every failed job").check()
    boxes = failed.locator("tbody").get_by_role("checkbox")
    for box in boxes.all():
        expect(box).to_be_checked()
    boxes.first.uncheck()  # The tick-all box follows.
    expect(
        failed.get_by_role("checkbox", name="Tick every failed job")
    ).not_to_be_checked()
    boxes.first.check()
    expect(failed.get_by_role("checkbox", name="Tick every failed job")).to_be_checked()
    page.once("dialog", lambda dialog: dialog.accept())
    failed.get_by_role("button", name="Retry ticked").click()

    expect(page.get_by_text("Retried 2 jobs.")).to_be_visible()
    expect(failed).to_contain_text("None.", timeout=WORKER_TIMEOUT)
    expect(page.locator("#ops-jobs")).to_contain_text(f"{staff.email} retried")
    email.refresh_from_db()
    assert email.status in ("queued", "running", "succeeded")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
