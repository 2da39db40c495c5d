"""Steps the browser tests share: finding the navigation and fields, logging in."""

from playwright.sync_api import Page, expect

# Steps that wait for the worker; the rest keep expect()'s default 5 s.
WORKER_TIMEOUT = 15_000


def nav(page: Page):
    return page.get_by_role("navigation", name="Main")


def field(page: Page, label: str):
    """The `.field` block around the input labelled `label`: input, errors, help."""
    return page.locator(".field").filter(has=page.get_by_label(label, exact=True))


def log_in(page: Page, email: str, password: str) -> None:
    nav(page).get_by_role("link", name="Log in").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(nav(page).get_by_role("link", name=email)).to_be_visible()


def log_out(page: Page) -> None:
    nav(page).get_by_role("button", name="Log out").click()
    expect(nav(page).get_by_role("link", name="Log in")).to_be_visible()
