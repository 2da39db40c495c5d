"""Accounts in a real browser: sign-up, the welcome email, login, passwords."""

import re

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import User
from apps.notifications import services as mail
from tests.e2e.steps import WORKER_TIMEOUT, field, log_in, log_out, nav
from tests.factories import UserFactory

pytestmark = [pytest.mark.e2e]

NEW_PASSWORD = "Brand-new-passw0rd-42"


def test_sign_up_sends_a_welcome_email_whose_link_verifies_and_logs_in(
    page: Page, live_server, password, worker_paused, screenshot
):
    email = "ada@example.com"
    page.goto("/")
    hero = page.get_by_role("heading", name="Background jobs you can watch")
    expect(hero).to_be_visible()
    screenshot("home")

    page.get_by_role("main").get_by_role("link", name="Sign up").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)
    # Held, the worker cannot create the account before the mailbox shows
    # that nothing has come yet.
    with worker_paused():
        page.get_by_role("button", name="Sign up").click()
        expect(page).to_have_url(f"{live_server.url}/accounts/signup/done/")
        expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
        expect(page.get_by_role("status")).to_contain_text(
            f"We have sent a message to {email}."
        )
        screenshot("signup-done")
        page.get_by_role("link", name="Open the mailbox").click()
        expect(page.get_by_text("No emails yet")).to_be_visible()
        page.evaluate("window.loadedOnce = true")

    # The list asks for new emails every 3 s: the welcome email arrives by itself.
    row = page.get_by_role("row").filter(has_text="Welcome to Jobs Demo")
    expect(row).to_contain_text(email, timeout=WORKER_TIMEOUT)
    expect(row.locator(".badge")).to_have_text("Sent", timeout=WORKER_TIMEOUT)
    assert page.evaluate("window.loadedOnce") is True, "the page was reloaded"

    row.get_by_role("link", name="Welcome to Jobs Demo").click()
    expect(page.get_by_role("heading", name="Welcome to Jobs Demo")).to_be_visible()
    details = page.locator(".email .details")
    expect(details.locator("dt:text-is('From') + dd")).to_have_text(
        "Jobs Demo <hello@example.com>"
    )
    expect(details.locator("dt:text-is('To') + dd")).to_have_text(email)
    expect(details.locator("dt:text-is('Date') + dd")).to_have_text(
        # In the browser's zone (the tests' is Paris), named.
        re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d\s?[AP]M GMT\+[12]$")
    )
    expect(details.locator("dt:text-is('Status') + dd .badge")).to_have_text("Sent")
    html_body = page.frame_locator("iframe.email-html")
    expect(html_body.get_by_role("heading", name="Welcome aboard!")).to_be_visible()
    expect(page.locator("pre.email-text")).to_contain_text(
        "Thank you for signing up. To open your account, follow this link and confirm"
    )
    expect(page.locator("pre.email-text")).to_contain_text(
        f"{live_server.url}/accounts/signup/confirm/"
    )
    screenshot("email-detail")

    # A real click inside the sandboxed iframe: only a user's click may
    # navigate the top page. The link asks for a click (a mail scanner
    # opening it confirms nothing), which opens the account and logs in.
    html_body.get_by_role("link", name="Verify my address").click()
    expect(page.get_by_role("heading", name="Finish signing up")).to_be_visible()
    page.get_by_role("button", name="Confirm my address").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/welcome/")
    expect(page.get_by_role("heading", name=f"Welcome, {email}")).to_be_visible()
    expect(
        page.get_by_text("Your address is verified and you are logged in.")
    ).to_be_visible()
    status = page.locator(".job-status")
    expect(status).to_have_attribute("data-status", "succeeded")
    expect(status.locator(".badge")).to_have_text("Succeeded")
    expect(status).to_contain_text("Attempt 1 started")
    screenshot("welcome")

    nav(page).get_by_role("link", name=email).click()
    verified = page.locator(".details dt:text-is('Verified') + dd")
    expect(verified.locator(".badge")).to_have_text("Verified")
    # In the browser's zone, named, like every time the app shows.
    expect(verified).to_have_text(
        re.compile(
            r"^\s*Verified on [A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d\s?[AP]M "
            r"GMT\+[12]\s*$"
        )
    )
    member_since = page.locator(".details dt:text-is('Member since') + dd")
    expect(member_since).to_have_text(re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}$"))
    resend = page.get_by_role("button", name="Send a new verification link")
    expect(resend).to_have_count(0)
    screenshot("account-verified")

    nav(page).get_by_role("link", name="Mailbox").click()
    row = page.get_by_role("row").filter(has_text="Welcome to Jobs Demo")
    expect(row).to_contain_text(email)
    expect(row.locator(".badge")).to_have_text("Sent")
    screenshot("mailbox")


def test_password_change_then_log_in_with_the_new_password(page: Page, password):
    user = UserFactory(email="grace@example.com")
    page.goto("/")
    log_in(page, user.email, password)
    log_out(page)
    log_in(page, user.email, password)

    nav(page).get_by_role("link", name=user.email).click()
    page.get_by_role("link", name="Change password").click()
    page.get_by_label("Old password").fill(password)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    expect(page.locator(".messages")).to_have_text("Your password has been changed.")
    # Changing the password keeps this session logged in.
    expect(nav(page).get_by_role("link", name=user.email)).to_be_visible()

    log_out(page)
    nav(page).get_by_role("link", name="Log in").click()
    page.get_by_label("Email address").fill(user.email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct")
    log_in(page, user.email, NEW_PASSWORD)


def test_forgotten_password_is_reset_through_the_emailed_link(
    page: Page, live_server, worker_paused
):
    user = UserFactory(email="alan@example.com")
    other = UserFactory(email="grace@example.com")
    mail.email_queue(owner=other, template="welcome", context={"verify_url": "x"})
    page.goto("/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill(user.email)
    with worker_paused():
        page.get_by_role("button", name="Email me a reset link").click()
        expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
        # Logged out, yet demo mode's mailbox shows this browser the email it
        # asked for, and nothing else (not Grace's welcome email). A worker
        # looks the address up, so until it runs there is nothing to show.
        page.get_by_role("link", name="Open the mailbox").click()
        expect(page.get_by_text("No emails yet")).to_be_visible()

    # The list asks for new emails every 3 s: no reload needed to see it arrive.
    row = page.get_by_role("row").filter(has_text="Reset your Jobs Demo password")
    expect(row).to_contain_text(user.email, timeout=WORKER_TIMEOUT)
    expect(row.locator(".badge")).to_have_text("Sent", timeout=WORKER_TIMEOUT)
    expect(page.locator("#mailbox-list tbody tr")).to_have_count(1)
    expect(page.get_by_text(other.email)).to_have_count(0)
    row.get_by_role("link", name="Reset your Jobs Demo password").click()
    expect(page.locator("pre.email-text")).to_contain_text(
        f"{live_server.url}/accounts/password/reset/"
    )
    html_body = page.frame_locator("iframe.email-html")
    html_body.get_by_role("link", name="Choose a new password").click()

    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("New password confirmation").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    expect(page).to_have_url(f"{live_server.url}/accounts/login/")
    expect(page.locator(".messages")).to_have_text(
        "Your password has been reset. Log in with it."
    )
    log_in(page, user.email, NEW_PASSWORD)


def test_sign_up_errors_are_shown_next_to_their_fields(
    page: Page, live_server, password, screenshot
):
    taken = UserFactory(email="taken@example.com")
    page.goto("/")
    nav(page).get_by_role("link", name="Sign up").click()

    page.get_by_label("Email address").fill("new@example.com")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password + "!")
    with page.expect_response(f"{live_server.url}/accounts/signup/") as response:
        page.get_by_role("button", name="Sign up").click()
    assert response.value.status == 200
    expect(field(page, "Password again").locator(".field-errors")).to_have_text(
        "The two passwords differ."
    )
    expect(page.get_by_label("Password again")).to_have_attribute(
        "aria-invalid", "true"
    )
    expect(page.get_by_label("Password again")).to_have_accessible_description(
        "The two passwords differ."
    )
    expect(field(page, "Email address").locator(".field-errors")).to_have_count(0)
    expect(page.get_by_label("Email address")).to_have_value("new@example.com")

    screenshot("signup-errors")

    # A taken address (in other letters, the same account) gets the same
    # answer as a free one: only its owner's inbox learns of the attempt.
    page.get_by_label("Email address").fill("Taken@Example.com")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Password again").fill(password)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(
        "We have sent a message to taken@example.com."
    )
    assert list(User.objects.values_list("email", flat=True)) == [taken.email]


def test_at_390_px_a_long_address_in_the_welcome_heading_breaks_after_the_at(
    page: Page, password, screenshot
):
    user = UserFactory(email="newcomer.trying@example.com")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    log_in(page, user.email, password)
    page.goto("/accounts/welcome/")
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(f"Welcome, {user.email}")
    # The heading's lines as drawn: each character's box, grouped by its top.
    lines = heading.evaluate(
        """heading => {
          const lines = new Map();
          const walker = document.createTreeWalker(heading, NodeFilter.SHOW_TEXT);
          for (let node; (node = walker.nextNode()); ) {
            for (let i = 0; i < node.length; i++) {
              const range = document.createRange();
              range.setStart(node, i);
              range.setEnd(node, i + 1);
              const box = range.getClientRects()[0];
              if (!box) continue;
              const top = Math.round(box.top);
              lines.set(top, (lines.get(top) || "") + node.data[i]);
            }
          }
          return [...lines.values()].map((line) => line.trim());
        }"""
    )
    assert lines[-2:] == ["newcomer.trying@", "example.com"], lines
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("welcome-390")
