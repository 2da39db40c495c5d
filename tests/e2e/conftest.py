"""
Browser tests: Chromium, driven by Playwright, uses the app served by
`live_server`, with a real redis-server and `celery worker` behind it.

Chromium is Debian's (Playwright cannot download its own here). Without it the
tests skip, except in CI, where a missing browser fails the run.
"""

import os
import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.processes import require_program

# The README's screenshots are refreshed with `make screenshots`
# (UPDATE_SCREENSHOTS=1); other runs write to var/, so they leave git clean.
BASE_DIR = Path(__file__).resolve().parents[2]
SCREENSHOTS_DIR = (
    BASE_DIR / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS")
    else BASE_DIR / "var" / "screenshots"
)
VIEWPORT = {"width": 1280, "height": 800}
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="package")
def browser():
    """One headless Chromium for all the browser tests; each gets a new context.

    Package-scoped rather than session-scoped so that Playwright's event loop
    stops, and the variable below is unset, once the last browser test is done.
    """
    executable = require_program("chromium")
    with pytest.MonkeyPatch.context() as patch:
        # Playwright's sync API keeps an asyncio event loop running in the main
        # thread, and Django refuses ORM calls from a thread with a running loop
        # (SynchronousOnlyOperation). The ORM calls beside it here (factories,
        # flushing the database between tests) are ordinary blocking test code,
        # so the guard has nothing to protect. Not set for the whole process: the
        # variable would leak into every subprocess other tests start, and
        # `manage.py check --deploy` rightly fails with it (async.E001).
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=executable, headless=True, args=CHROMIUM_ARGS
            )
            yield browser
            browser.close()


@pytest.fixture
def worker_env(live_server):
    """The worker as `make run` starts it, pointed at this server, but quicker.

    Emails it renders link to the live server; the fake gateway answers in
    0.3 s, and a failed charge is retried after about 1 s, 2 s... instead of
    4 s, 8 s..., so a card that fails twice is paid within seconds.
    """
    return {
        "SITE_URL": live_server.url,
        "PAYMENT_RETRY_BACKOFF": "1",
        "PAYMENT_GATEWAY_LATENCY": "0.3",
    }


@pytest.fixture
def app_server(live_server, celery_worker, settings):
    """The app as `make run` serves it: web, Redis broker and a worker process."""
    # `make run` runs with DEBUG and demo mode on, and so do these tests: in
    # demo mode a logged-out browser reads the password-reset email it asked
    # for in the app's mailbox (and no one else's email).
    settings.DEBUG = settings.DEMO_MODE = True
    return live_server


@pytest.fixture
def page(browser, app_server):
    """A fresh browser context and tab, at the screenshots' viewport.

    The test fails if the server answers 5xx, the page throws, or the
    Content-Security-Policy refuses something, even when the screen happens to
    look right.
    """
    # A zone other than the server's UTC, so that the tests see times shown in
    # the browser's own zone.
    context = browser.new_context(
        viewport=VIEWPORT,
        base_url=app_server.url,
        timezone_id="Europe/Paris",
        locale="en-US",
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    server_errors, page_errors = [], []

    def record_server_error(response):
        if response.status >= 500:
            server_errors.append(f"{response.status} {response.url}")

    def record_policy_violation(message):
        # The Content-Security-Policy refusing something is a bug of ours.
        if message.type == "error" and "Content Security Policy" in message.text:
            page_errors.append(message.text)

    page.on("response", record_server_error)
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on("console", record_policy_violation)
    yield page
    context.close()
    assert not server_errors, f"the server failed: {server_errors}"
    assert not page_errors, f"the page threw: {page_errors}"


@pytest.fixture
def screenshot(page):
    """Save the whole page as <SCREENSHOTS_DIR>/<name>.png."""

    def take(name: str) -> None:
        SCREENSHOTS_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=SCREENSHOTS_DIR / f"{name}.png",
            full_page=True,
            animations="disabled",
            caret="hide",
        )

    return take


@pytest.fixture
def worker_paused(celery_worker):
    """Hold the worker still (SIGSTOP) inside a `with` block.

    A worker on an idle machine sends an email before the next page has even
    loaded; holding it lets a test see the job queued first, then watch the page
    update itself when the worker resumes.
    """

    @contextmanager
    def paused():
        # The worker runs in its own session: its process group is its pid.
        os.killpg(celery_worker.process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(celery_worker.process.pid, signal.SIGCONT)

    return paused
