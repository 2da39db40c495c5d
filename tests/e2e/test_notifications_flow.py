"""The notifications centre in a real browser, with a real worker: a report
finishing moves the bell's count and the activity page without a reload; the
notification leads to the report; "Mark all as read" clears the bell."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.steps import WORKER_TIMEOUT, log_in, nav

pytestmark = [pytest.mark.e2e]


def bell(page: Page):
    return nav(page).locator("#bell")


def test_a_report_finishing_moves_the_bell_and_the_activity_page_by_themselves(
    page: Page, user, password, products, worker_paused, screenshot
):
    page.goto("/")
    log_in(page, user.email, password)
    expect(bell(page)).to_have_text("")

    with worker_paused():
        nav(page).get_by_role("link", name="Reports").click()
        page.get_by_role("radio", name="Sales summary").check()
        page.get_by_role("button", name="Request the report").click()
        expect(page).to_have_url(re.compile(r"/reports/\d+/$"))

        nav(page).get_by_role("link", name="Activity").click()
        expect(page.get_by_role("heading", name="Activity")).to_be_visible()
        rows = page.locator("#activity tbody tr")
        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("Report")
        expect(rows.first).to_contain_text("Queued")
        page.evaluate("window.loadedOnce = true")

    # The worker makes the report: its row turns succeeded, the email that
    # says so appears above it, and the bell shows one unread, all by
    # themselves.
    def of_kind(kind):
        return rows.filter(has=page.locator("td[data-label=Kind]", has_text=kind))

    expect(of_kind("Report")).to_contain_text("Succeeded", timeout=WORKER_TIMEOUT)
    expect(of_kind("Outgoing email")).to_have_count(1, timeout=WORKER_TIMEOUT)
    expect(bell(page)).to_have_text("1", timeout=WORKER_TIMEOUT)
    assert page.evaluate("window.loadedOnce") is True, "the page was reloaded"
    screenshot("activity")

    # Filtered to reports only.
    page.get_by_label("Kind").select_option(label="Report")
    page.get_by_role("button", name="Show").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Sales summary")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("activity-390")
    page.set_viewport_size({"width": 1280, "height": 800})

    nav(page).get_by_role("link", name=re.compile("Notifications")).click()
    item = page.locator(".notification-unread")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("report is ready")
    screenshot("notifications")
    page.get_by_role("button", name="Mark all as read").click()
    expect(page.locator(".notification-unread")).to_have_count(0)
    expect(bell(page)).to_have_text("")

    # Following the notification leads to the report.
    page.get_by_role("link", name=re.compile("report is ready")).click()
    expect(page).to_have_url(re.compile(r"/reports/\d+/$"))


def test_choose_what_arrives_by_email(page: Page, user, password, screenshot):
    page.goto("/")
    log_in(page, user.email, password)
    nav(page).get_by_role("link", name=re.compile("Notifications")).click()
    page.get_by_role("link", name="Settings").first.click()
    report = page.get_by_label("A PDF report is ready")
    expect(report).to_be_checked()  # The default.
    report.uncheck()
    page.get_by_label("Send me a daily digest").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your notification settings are saved.")).to_be_visible()
    expect(page.get_by_label("A PDF report is ready")).not_to_be_checked()
    expect(page.get_by_label("Send me a daily digest")).to_be_checked()
    screenshot("notification-settings")


def test_staff_send_an_announcement_and_watch_it_delivered(
    page: Page, password, screenshot
):
    from tests.factories import UserFactory

    staff = UserFactory(is_staff=True)
    UserFactory.create_batch(3)
    page.goto("/")
    log_in(page, staff.email, password)
    nav(page).get_by_role("link", name="Announce").click()
    page.get_by_label("Subject").fill("Scheduled maintenance")
    page.get_by_label("Message").fill("Read-only from 02:00 to 03:00 UTC on Sunday.")
    page.get_by_label("Audience").select_option("everyone")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.get_by_role("button", name="Send").click()

    expect(page.get_by_text("The announcement is on its way.")).to_be_visible()
    assert asked and asked[0].startswith("Send this announcement now?")
    table = page.locator("#announcements")
    expect(table).to_contain_text("4 of 4", timeout=WORKER_TIMEOUT)
    expect(table).to_contain_text("Succeeded")
    expect(table).not_to_have_attribute("hx-trigger", re.compile("."))
    expect(bell(page)).to_have_text("1", timeout=WORKER_TIMEOUT)
    screenshot("announcements")
