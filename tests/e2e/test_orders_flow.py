"""Orders in a real browser: ordering, paying with the gateway's test cards, watching
the payment live, and nobody else's orders."""

import re
import uuid
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.notifications import services as mail
from apps.orders import services
from apps.orders.models import Order, Payment, Product
from tests.e2e.steps import WORKER_TIMEOUT, field, log_in, log_out, nav
from tests.factories import UserFactory
from tests.processes import wait_until

pytestmark = [pytest.mark.e2e]

CARD_ERROR = "Enter a valid card number: 12 to 19 digits, as printed on the card."


@pytest.fixture(autouse=True)
def catalogue(transactional_db, settings):
    """The demo products, and demo mode, which lists the test cards by the form."""
    settings.DEMO_MODE = True
    services.products_seed_demo()


def fill_card(where, number: str) -> None:
    """Type a card as a person would: number, expiry, CVC."""
    where.get_by_label("Card number").fill(number)
    where.get_by_label("Expiry (MM/YY)").fill("12/34")
    where.get_by_label("CVC").fill("123")


def place_order(owner, quantities: dict[str, int]) -> Order:
    """An order as the New order page places it, {SKU: quantity}."""
    products = Product.objects.in_bulk(quantities, field_name="sku")
    return services.order_place(
        owner=owner,
        quantities={products[sku].pk: n for sku, n in quantities.items()},
        checkout_token=uuid.uuid4(),
    )


@contextmanager
def held_while_retrying(worker_paused, payment: Payment, *, attempts: int):
    """Hold the worker once `payment` waits to retry after failed attempt `attempts`.

    The wait lasts about a second and the page asks once a second, so without
    holding, the page could skip it. The database says at once, and the hold
    keeps the state until the page has shown it.
    """
    wait_until(
        Payment.objects.filter(
            pk=payment.pk, status=Payment.Status.RETRYING, attempts=attempts
        ).exists,
        timeout=WORKER_TIMEOUT / 1000,
        interval=0.02,
        message=f"payment {payment.pk} never retried after attempt {attempts}",
    )
    with worker_paused():
        yield


def test_twice_failing_card_is_retried_then_paid_while_the_page_watches(
    page: Page, live_server, password, worker_paused, screenshot
):
    user = UserFactory()
    page.goto("/")
    log_in(page, user.email, password)
    nav(page).get_by_role("link", name="Orders").click()
    expect(page.get_by_role("heading", name="Your orders")).to_be_visible()
    expect(page.get_by_text("No orders yet.")).to_be_visible()

    page.get_by_role("main").get_by_role("link", name="New order").click()
    expect(page.get_by_role("heading", name="New order")).to_be_visible()
    page.get_by_label("Sticker pack", exact=True).fill("3")
    page.get_by_label("Broker T-shirt", exact=True).fill("2")
    screenshot("order-new")
    page.get_by_role("button", name="Place order").click()

    expect(page).to_have_url(re.compile(r"/orders/\d+/$"))
    order = Order.objects.get(owner=user)
    # Prices come from the database: 3 × 4.99 + 2 × 24.50.
    assert order.total == Decimal("63.97")
    expect(page).to_have_url(f"{live_server.url}/orders/{order.pk}/")
    expect(page.get_by_role("heading", name=f"Order #{order.pk}")).to_be_visible()
    expect(page.locator(".page-head .badge")).to_have_text("Awaiting payment")
    for cells in [
        ["Broker T-shirt", "$24.50", "2", "$49.00"],
        ["Sticker pack", "$4.99", "3", "$14.97"],
    ]:
        row = page.get_by_role("row").filter(has_text=cells[0])
        expect(row.get_by_role("cell")).to_have_text(cells)
    expect(page.get_by_role("row").filter(has_text="Total")).to_contain_text("$63.97")
    test_card = (
        page.locator(".test-cards")
        .get_by_role("row")
        .filter(has_text="4000 0000 0000 0119")
    )
    expect(test_card).to_contain_text("Processing error on the first two attempts")

    fill_card(page, "4000 0000 0000 0119")
    status = page.locator(".payment-panel .job-status")
    with worker_paused():
        page.get_by_role("button", name="Pay $63.97").click()
        expect(status).to_have_attribute("data-status", "queued")
        expect(page.locator(".payment-panel")).to_contain_text("Card …0119, $63.97.")
        page.evaluate("window.loadedOnce = true")
    payment = Payment.objects.get(order=order)

    retry = status.locator(".job-retry")
    with held_while_retrying(worker_paused, payment, attempts=1):
        expect(status).to_have_attribute("data-status", "retrying")
        expect(status.locator(".badge")).to_have_text("Retrying")
        expect(retry).to_have_text(
            re.compile(
                r"^Attempt 1 of 5 failed \(processing error\), next try in \d+ s\.$"
            )
        )
        expect(page.get_by_role("progressbar")).to_be_visible()
        screenshot("order-retrying")
    with held_while_retrying(worker_paused, payment, attempts=2):
        expect(retry).to_contain_text("Attempt 2 of 5 failed (processing error)")

    expect(status).to_have_attribute("data-status", "succeeded", timeout=WORKER_TIMEOUT)
    expect(status.locator(".badge")).to_have_text("Succeeded")
    expect(status.locator(".job-stage")).to_have_text("Paid")
    expect(status.locator(".job-done")).to_contain_text("after 3 attempts")
    expect(page.get_by_role("progressbar")).to_have_count(0)
    # The order's badge at the top changed with it (an out-of-band swap).
    expect(page.locator(".page-head .badge")).to_have_text("Paid")
    assert page.evaluate("window.loadedOnce") is True, "the page was reloaded"
    # The attempt history: a strip drawn to scale, then the event log.
    history = status.locator(".job-history")
    expect(history.locator("summary")).to_have_text("History: 3 attempts")
    expect(history.locator(".job-strip .strip-running")).to_have_count(3)
    expect(history.locator(".job-strip .strip-retry-wait")).to_have_count(2)
    events = history.locator(".job-events li")
    expect(events.nth(0)).to_contain_text("Queued.")
    expect(events.nth(2)).to_contain_text(
        re.compile(r"Attempt 1 failed after [\d.]+ s: processing error\. Retry")
    )
    expect(events.nth(3)).to_contain_text(
        re.compile(r"Retried [\d.]+ s later: attempt 2 started on ")
    )
    expect(events.last).to_contain_text(
        re.compile(r"Attempt 3 succeeded in [\d.]+ s\.")
    )
    screenshot("order-paid")
    order.refresh_from_db()
    assert order.status == Order.Status.PAID

    nav(page).get_by_role("link", name="Orders").click()
    row = page.get_by_role("row").filter(has_text=f"Order #{order.pk}")
    expect(row.get_by_role("cell")).to_have_text(
        [
            f"Order #{order.pk}",
            re.compile(
                r"^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d\s?[AP]M GMT\+[12]$"
            ),
            "$63.97",
            "Paid",
            re.compile(r"^\s*Succeeded\s+card …0119, 3 attempts\s*$"),
        ]
    )
    screenshot("orders-list")

    nav(page).get_by_role("link", name="Mailbox").click()
    email = page.get_by_role("row").filter(has_text=f"Order #{order.pk} is paid")
    expect(email).to_contain_text(user.email)
    # The list refreshes itself every 2 s.
    expect(email.locator(".badge")).to_have_text("Sent", timeout=WORKER_TIMEOUT)
    email.get_by_role("link").click()
    text = page.locator("pre.email-text")
    expect(text).to_contain_text(f"We received $63.97 for order #{order.pk}")
    # The worker links to this server (SITE_URL), not to the default.
    expect(text).to_contain_text(f"See the order: {live_server.url}/orders/{order.pk}/")


def test_declined_card_offers_the_form_again_in_place_and_another_card_pays(
    page: Page, live_server, password, worker_paused
):
    user = UserFactory()
    order = place_order(user, {"MUG-01": 1})
    page.goto("/")
    log_in(page, user.email, password)
    page.goto(f"/orders/{order.pk}/")

    fill_card(page, "4000 0000 0000 0002")
    status = page.locator(".payment-panel .job-status")
    with worker_paused():
        page.get_by_role("button", name="Pay $12.00").click()
        expect(status).to_have_attribute("data-status", "queued")
        page.evaluate("window.loadedOnce = true")

    expect(status).to_have_attribute("data-status", "failed", timeout=WORKER_TIMEOUT)
    expect(status.locator(".badge")).to_have_text("Failed")
    expect(status.get_by_role("alert")).to_have_text("Your card was declined.")
    expect(page.locator(".page-head .badge")).to_have_text("Payment failed")
    # The status box replaced itself with the form: no reload, no retry.
    expect(status.get_by_label("Card number")).to_have_value("")
    expect(status.locator(".test-cards")).to_be_visible()
    assert page.evaluate("window.loadedOnce") is True, "the page was reloaded"
    assert Payment.objects.get(order=order).attempts == 1

    fill_card(status, "4242 4242 4242 4242")
    status.get_by_role("button", name="Pay $12.00").click()
    expect(page.locator(".payment-panel")).to_contain_text("Card …4242, $12.00.")
    expect(status).to_have_attribute("data-status", "succeeded", timeout=WORKER_TIMEOUT)
    expect(status.locator(".job-done")).to_contain_text("Paid")
    order.refresh_from_db()
    assert order.status == Order.Status.PAID
    assert sorted(order.payments.values_list("card_last4", "status")) == [
        ("0002", Payment.Status.FAILED),
        ("4242", Payment.Status.SUCCEEDED),
    ]

    nav(page).get_by_role("link", name="Mailbox").click()
    failed = f"Payment for order #{order.pk} failed"
    for subject in (failed, f"Order #{order.pk} is paid"):
        email = page.get_by_role("row").filter(has_text=subject)
        expect(email.locator(".badge")).to_have_text("Sent", timeout=WORKER_TIMEOUT)
    page.get_by_role("link", name=failed).click()
    text = page.locator("pre.email-text")
    expect(text).to_contain_text("card ending 0002")
    expect(text).to_contain_text("Your card was declined.")
    expect(text).to_contain_text(f"{live_server.url}/orders/{order.pk}/")


def test_another_user_gets_404_for_an_order_and_its_payment_status(
    page: Page, password
):
    owner, other = UserFactory(), UserFactory()
    order = place_order(owner, {"BOOK-01": 1})
    payment = services.payment_start(order=order, card_number="4242424242424242")
    urls = [
        f"/orders/{order.pk}/",
        f"/jobs/orders.payment/{payment.pk}/status/",
        f"/jobs/orders.payment/status/?id={payment.pk}",
    ]

    page.goto("/")
    log_in(page, owner.email, password)
    for url in urls:
        assert page.goto(url).status == 200, url
    page.goto("/")
    log_out(page)

    log_in(page, other.email, password)
    for url in urls[:2]:
        assert page.goto(url).status == 404, url
    # The list-status endpoint leaves out ids that are not the user's.
    assert page.goto(urls[2]).json() == {"jobs": []}
    page.goto("/orders/")
    expect(page.get_by_text("No orders yet.")).to_be_visible()


def test_invalid_card_number_is_refused_next_to_the_field(
    page: Page, live_server, password
):
    user = UserFactory()
    order = place_order(user, {"CAP-01": 2})
    page.goto("/")
    log_in(page, user.email, password)
    page.goto(f"/orders/{order.pk}/")

    card = page.get_by_label("Card number")
    fill_card(page, "1234 5678")
    with page.expect_response(f"{live_server.url}/orders/{order.pk}/pay/") as response:
        page.get_by_role("button", name="Pay $36.00").click()
    assert response.value.status == 200
    expect(field(page, "Card number").locator(".field-errors")).to_have_text(CARD_ERROR)
    expect(card).to_have_attribute("aria-invalid", "true")
    expect(card).to_have_accessible_description(CARD_ERROR)
    expect(card).to_have_value("1234 5678")
    expect(page.locator(".job-status")).to_have_count(0)
    expect(page.locator(".page-head .badge")).to_have_text("Awaiting payment")
    assert not Payment.objects.exists()
    order.refresh_from_db()
    assert order.status == Order.Status.AWAITING_PAYMENT


def test_card_field_groups_digits_names_the_brand_and_takes_a_clicked_test_card(
    page: Page, password, settings, screenshot
):
    settings.DEMO_MODE = True
    user = UserFactory()
    order = place_order(user, {"MUG-01": 1})
    page.goto("/")
    log_in(page, user.email, password)
    page.goto(f"/orders/{order.pk}/")

    card = page.get_by_label("Card number")
    card.press_sequentially("5555555555554444")
    expect(card).to_have_value("5555 5555 5555 4444")
    expect(page.locator("#card-brand")).to_have_text("Mastercard")

    # A digit typed mid-number goes in there, and the caret stays after it,
    # also when the regrouping puts a space before it; beside a group's
    # space, Delete and Backspace take the digit beyond it.
    steps = [
        # (caret before, keys typed or pressed, value after, caret after)
        (2, "9", "5595 5555 5555 5444 4", 3),
        (None, "12", "5591 2555 5555 5554 444", 6),
        (None, "Backspace", "5591 5555 5555 5544 44", 4),
        (None, "Delete", "5591 5555 5555 5444 4", 4),
        (5, "Backspace", "5595 5555 5555 4444", 3),
    ]
    for before, keys, value, after in steps:
        if before is not None:
            card.evaluate(f"field => field.setSelectionRange({before}, {before})")
        if keys in ("Backspace", "Delete"):
            page.keyboard.press(keys)
        else:
            page.keyboard.type(keys)
        expect(card).to_have_value(value)
        assert card.evaluate("field => field.selectionStart") == after, keys

    test_card = page.locator(".test-cards").get_by_role(
        "button", name="4000 0000 0000 0119"
    )
    # One line each, even at 1280 px with the descriptions beside them.
    box = test_card.bounding_box()
    assert box["height"] < 40
    test_card.click()
    expect(card).to_have_value("4000 0000 0000 0119")
    expect(card).to_be_focused()
    expect(page.locator("#card-brand")).to_have_text("Visa")
    screenshot("order-payment-form")


def test_at_390_px_every_table_cell_keeps_its_column_label(
    page: Page, password, screenshot
):
    user = UserFactory()
    order = place_order(user, {"MUG-01": 1, "STK-01": 2})
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    log_in(page, user.email, password)

    def label_of(cell) -> str:
        return cell.evaluate(
            "cell => getComputedStyle(cell, '::before').content.replaceAll('\"', '')"
        )

    page.goto("/orders/")
    row = page.get_by_role("row").filter(has_text=f"Order #{order.pk}")
    assert [label_of(c) for c in row.get_by_role("cell").all()] == [
        "Order",
        "Ordered",
        "Total",
        "Order status",
        "Payment",
    ]
    screenshot("orders-list-390")
    page.goto(f"/orders/{order.pk}/")
    line = page.get_by_role("row").filter(has_text="Celery mug")
    assert [label_of(c) for c in line.get_by_role("cell").all()] == [
        "Product",
        "Unit price",
        "Quantity",
        "Amount",
    ]
    # The total on one line, "Total" beside the amount, with no border of its own.
    total = page.locator("tfoot tr")
    label, amount = total.get_by_role("rowheader"), total.get_by_role("cell")
    expect(amount).to_have_text("$21.98")
    label_box, amount_box = label.bounding_box(), amount.bounding_box()
    assert abs(label_box["y"] - amount_box["y"]) < label_box["height"]
    assert label_box["x"] < amount_box["x"]
    assert label.evaluate("th => getComputedStyle(th).borderBottomWidth") == "0px"
    # The Pay button lines up with the fields above it.
    pay = page.get_by_role("button", name="Pay $21.98")
    card = page.get_by_label("Card number")
    assert pay.bounding_box()["x"] == card.bounding_box()["x"]
    # Nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("order-390")

    mail.email_queue(owner=user, template="welcome", context={})
    nav(page).get_by_role("link", name="Mailbox").click()
    email = page.get_by_role("row").filter(has_text="Welcome to Jobs Demo")
    expect(email.locator(".badge")).to_have_text("Sent", timeout=WORKER_TIMEOUT)
    assert [label_of(c) for c in email.get_by_role("cell").all()] == [
        "Subject",
        "To",
        "Status",
        "Date",
    ]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot("mailbox-390")


def test_dead_letter_admin_fits_1280_px_with_the_sidebar_open(
    page: Page, password, screenshot
):
    # Long addresses and messages, as real entries have: the table must still fit.
    shopper = UserFactory(email="firstname.lastname.accounts@bigcorp.example.com")
    now = timezone.now()
    for n, (order_status, error) in enumerate(
        [
            (
                Order.Status.PAYMENT_FAILED,
                "Gave up after 5 attempts (processing error). The gateway kept "
                "answering with an error it calls temporary.",
            ),
            (Order.Status.PAID, "Gave up after 5 attempts (timeout)."),
            (Order.Status.PAYMENT_FAILED, "Gave up after 5 attempts (timeout)."),
        ]
    ):
        order = place_order(shopper, {"MUG-01": 12, "BOOK-01": 3})
        Order.objects.filter(pk=order.pk).update(status=order_status)
        Payment.objects.create(
            owner=shopper,
            order=order,
            amount=order.total,
            card_token=f"tok_{n}",
            card_last4="0127",
            idempotency_key=f"order-{order.pk}-payment-tok_{n}",
            status=Payment.Status.FAILED,
            attempts=5,
            error_message=error,
            failure_code="processing_error",
            finished_at=now,
            dead_lettered_at=now,
        )
    staff = UserFactory(is_staff=True, is_superuser=True)
    page.goto("/")
    log_in(page, staff.email, password)

    page.goto(reverse("admin:orders_deadletterpayment_changelist"))
    expect(page.locator("#nav-sidebar")).to_be_visible()
    # The app's icon, as on its own pages, so that the browser does not ask
    # for /favicon.ico (headless Chromium asks for none, so it is not counted).
    expect(page.locator("head link[rel=icon]")).to_have_attribute(
        "href", re.compile(r"/favicon[.\w]*\.svg$")
    )
    results = page.locator("#result_list")
    expect(results.locator("tbody tr")).to_have_count(3)
    expect(results).to_contain_text("Resolved")
    expect(results).to_contain_text("Open")
    screenshot("admin-dead-letters")
    box = page.locator(".results")
    # No horizontal scroll: every column, the last one too, is on the screen.
    assert box.evaluate("box => box.scrollWidth <= box.clientWidth"), box.evaluate(
        "box => [box.scrollWidth, box.clientWidth]"
    )
    last = results.locator("thead th").last.bounding_box()
    assert last["x"] + last["width"] <= 1280
