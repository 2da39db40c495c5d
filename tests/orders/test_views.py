import re
import uuid

import pytest
from django.urls import reverse

from apps.core.exceptions import RetryLater
from apps.orders import services, tasks
from apps.orders.imports import services as imports
from apps.orders.models import Order, Payment
from tests.factories import UserFactory
from tests.orders.attempts import exhaust
from tests.orders.imports import csv_bytes, upload

pytestmark = pytest.mark.django_db

# What the payment form asks besides the number (checked, never stored).
CARD_DETAILS = {"expiry": "12/34", "cvc": "123"}


@pytest.fixture
def order(user, products):
    return services.order_place(
        owner=user, quantities={products[0].pk: 1}, checkout_token=uuid.uuid4()
    )


def order_form_data(client, products, **quantities):
    form = client.get(reverse("orders:new")).context["form"]
    data = {"checkout_token": form.initial["checkout_token"]}
    data.update({f"quantity_{p.pk}": quantities.get(p.sku, 0) for p in products})
    return data


def test_order_pages_need_login(client, order):
    for url in (
        reverse("orders:list"),
        reverse("orders:new"),
        reverse("orders:detail", args=[order.pk]),
    ):
        assert client.get(url)["Location"].startswith(reverse("accounts:login"))


def test_placing_an_order_twice_with_one_form_creates_one_order(client, user, products):
    client.force_login(user)
    data = order_form_data(client, products, **{"MUG-01": 2})
    first = client.post(reverse("orders:new"), data)
    second = client.post(reverse("orders:new"), data)
    order = Order.objects.get()
    assert first["Location"] == second["Location"] == f"/orders/{order.pk}/"


def test_empty_order_explains_itself(client, user, products):
    client.force_login(user)
    response = client.post(reverse("orders:new"), order_form_data(client, products))
    assert response.status_code == 200
    assert "Choose at least one product." in response.content.decode()


def test_quantity_out_of_range_is_shown_by_its_field(client, user, products):
    client.force_login(user)
    data = order_form_data(client, products, **{"MUG-01": 500})
    page = client.post(reverse("orders:new"), data).content.decode()
    assert "less than or equal to 20" in page
    assert not Order.objects.exists()


def test_another_users_order_and_payment_are_404(
    client, order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        payment = services.payment_start(order=order, card_number="4242424242424242")
    client.force_login(UserFactory())
    assert client.get(reverse("orders:detail", args=[order.pk])).status_code == 404
    assert (
        client.post(
            reverse("orders:pay", args=[order.pk]),
            {"card_number": "4242424242424242", **CARD_DETAILS},
        ).status_code
        == 404
    )
    assert (
        client.get(
            reverse("core:job_status", args=["orders.payment", payment.pk])
        ).status_code
        == 404
    )
    assert client.get(reverse("orders:detail", args=[99999])).status_code == 404
    assert Payment.objects.count() == 1


def test_invalid_card_number_is_shown_next_to_the_field(client, user, order):
    client.force_login(user)
    response = client.post(
        reverse("orders:pay", args=[order.pk]),
        {"card_number": "4242 4242 4242 4241", **CARD_DETAILS},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="id_card_number_error"' in page
    assert "Enter a valid card number" in page
    assert not Payment.objects.exists()


def test_test_cards_are_listed_only_in_demo_mode(client, user, order, settings):
    client.force_login(user)
    settings.DEMO_MODE = True
    assert (
        "4000 0000 0000 0119"
        in client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    )
    settings.DEMO_MODE = False
    assert (
        "4000 0000 0000 0119"
        not in client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    )


def test_paying_shows_the_payment_live_on_the_order_page(
    client, user, order, django_capture_on_commit_callbacks
):
    client.force_login(user)
    with django_capture_on_commit_callbacks():
        response = client.post(
            reverse("orders:pay", args=[order.pk]),
            {"card_number": "4000-0000-0000-0119", **CARD_DETAILS},
        )
    assert response["Location"] == reverse("orders:detail", args=[order.pk])
    payment = Payment.objects.get()
    assert payment.card_last4 == "0119"
    page = client.get(response["Location"]).content.decode()
    status_url = reverse("core:job_status", args=["orders.payment", payment.pk])
    assert f'hx-get="{status_url}?v=' in page
    assert "Payment processing" in page


def test_retrying_payment_says_which_attempt_failed_and_when_the_next_comes(
    client, user, order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        payment = services.payment_start(order=order, card_number="4000000000000119")
    with pytest.raises(RetryLater):
        tasks.payment_process(payment.pk)
    client.force_login(user)
    fragment = client.get(
        reverse("core:job_status", args=["orders.payment", payment.pk])
    ).content.decode()
    assert 'data-status="retrying"' in fragment
    assert "Attempt 1 of 5 failed (processing error), next try in " in fragment
    assert "job-cancel" not in fragment  # A payment may be charging: no cancel.
    assert "hx-get" in fragment


def test_failed_payment_offers_the_form_again_in_place(
    client, user, order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        payment = services.payment_start(order=order, card_number="4000000000000002")
    tasks.payment_process(payment.pk)
    client.force_login(user)
    fragment = client.get(
        reverse("core:job_status", args=["orders.payment", payment.pk])
    ).content.decode()
    assert "Your card was declined." in fragment
    assert f'action="{reverse("orders:pay", args=[order.pk])}"' in fragment
    assert "hx-get" not in fragment


def test_order_list_shows_payment_states(
    client, user, order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_start(order=order, card_number="4242424242424242")
    other = services.order_place(
        owner=UserFactory(),
        quantities={order.lines.get().product_id: 1},
        checkout_token=uuid.uuid4(),
    )
    client.force_login(user)
    page = client.get(reverse("orders:list")).content.decode()
    assert f"Order #{order.pk}" in page
    assert f"Order #{other.pk}" not in page
    assert "Paid" in page
    assert "card …4242" in page


def test_dead_letter_admin_action_queues_the_payment_again(
    client, order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        payment = services.payment_start(order=order, card_number="4000000000000127")
    exhaust(payment)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    changelist = reverse("admin:orders_deadletterpayment_changelist")
    assert f"Payment #{payment.pk}" in client.get(changelist).content.decode()
    with django_capture_on_commit_callbacks() as published:
        response = client.post(
            changelist,
            {"action": "retry_payments", "_selected_action": [payment.pk]},
            follow=True,
        )
    assert "1 payment(s) queued again." in response.content.decode()
    assert len(published) == 1
    payment.refresh_from_db()
    assert payment.status == "queued"


def test_paying_a_paid_order_again_says_so(
    client, user, order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_start(order=order, card_number="4242424242424242")
    client.force_login(user)
    response = client.post(
        reverse("orders:pay", args=[order.pk]),
        {"card_number": "4242424242424242", **CARD_DETAILS},
        follow=True,
    )
    assert "This order is already paid." in response.content.decode()
    assert Payment.objects.count() == 1


def test_order_list_polls_payment_badges_only_while_a_payment_is_under_way(
    client, user, order, django_capture_on_commit_callbacks
):
    client.force_login(user)
    list_status = reverse("core:job_list_status", args=["orders.payment"])
    assert list_status not in client.get(reverse("orders:list")).content.decode()
    with django_capture_on_commit_callbacks():
        payment = services.payment_start(order=order, card_number="4242424242424242")
    page = client.get(reverse("orders:list")).content.decode()
    poll_url = f"{list_status}?id={payment.pk}"
    assert f'hx-get="{poll_url}"' in page
    badges = client.get(poll_url, headers={"HX-Request": "true"})
    assert badges.status_code == 200  # Not final yet: keep polling.
    html = badges.content.decode()
    assert f'id="job-badge-orders.payment-{payment.pk}"' in html
    # The order's badge in the same row follows the payment.
    assert f'id="order-{order.pk}-status"' in html
    assert "Payment processing" in html


def test_payment_admin_lists_every_attempt_inline(
    client, order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        payment = services.payment_start(order=order, card_number="4000000000000119")
    exhaust(payment)  # Fails twice, then succeeds.
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(
        reverse("admin:orders_payment_change", args=[payment.pk])
    ).content.decode()
    assert "Job attempts" in page
    outcomes = re.findall(r'<td class="field-outcome">\s*<p>([^<]*)</p>', page)
    assert outcomes == ["Failed, retried", "Failed, retried", "Succeeded"]
    assert "processing_error" in page  # The gateway's code, for staff.


@pytest.mark.parametrize(
    "typed",
    [
        "٤٠٠٠ ٠٠٠٠ ٠٠٠٠ ٠٠٠٢",  # The decline card in Arabic-Indic digits.
        "４２４２４２４２４２４２４２４２",  # Full-width digits.
        "4242\u00a04242\u00a04242\u00a04242",  # No-break spaces.
        "4242_4242_4242_4242",
    ],
)
def test_card_numbers_take_ascii_digits_spaces_and_dashes_only(
    client, user, order, typed
):
    client.force_login(user)
    response = client.post(
        reverse("orders:pay", args=[order.pk]), {"card_number": typed, **CARD_DETAILS}
    )
    assert response.status_code == 200
    assert "Enter a valid card number" in response.content.decode()
    assert not Payment.objects.exists()


def test_spaces_and_dashes_in_a_card_number_are_fine(client, user, order):
    client.force_login(user)
    client.post(
        reverse("orders:pay", args=[order.pk]),
        {"card_number": "4242-4242 4242-4242", **CARD_DETAILS},
    )
    assert Payment.objects.get().card_last4 == "4242"


@pytest.mark.parametrize("token", [None, "", "not-a-uuid", "1" * 500])
def test_a_bad_checkout_token_is_renewed_with_a_visible_message(
    client, user, products, token
):
    client.force_login(user)
    data = order_form_data(client, products, **{"MUG-01": 2})
    if token is None:
        del data["checkout_token"]
    else:
        data["checkout_token"] = token
    response = client.post(reverse("orders:new"), data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "This order form was out of date, so we renewed it." in page
    fresh = re.search(r'name="checkout_token" value="([0-9a-f-]{36})"', page)[1]
    assert fresh != token
    assert not Order.objects.exists()
    # Submitting the renewed form places the order.
    data["checkout_token"] = fresh
    response = client.post(reverse("orders:new"), data)
    assert response.status_code == 302
    assert Order.objects.count() == 1


def test_a_first_run_is_guided_to_the_card_that_fails_twice(client, user, settings):
    settings.DEMO_MODE = True
    client.force_login(user)
    for url in (reverse("core:home"), reverse("orders:list")):
        assert "4000 0000 0000 0119" in client.get(url).content.decode(), url


def test_dead_letter_admin_tells_open_entries_from_resolved_ones(
    client, user, products, django_capture_on_commit_callbacks
):
    def dead_letter():
        order = services.order_place(
            owner=user, quantities={products[0].pk: 1}, checkout_token=uuid.uuid4()
        )
        with django_capture_on_commit_callbacks():
            payment = services.payment_start(
                order=order, card_number="4000000000000127"
            )
        exhaust(payment)
        return order, payment

    _, still_open = dead_letter()
    paid_order, paid_later = dead_letter()
    with django_capture_on_commit_callbacks(execute=True):  # Another card pays.
        services.payment_start(order=paid_order, card_number="4242424242424242")
    _, retried = dead_letter()
    with django_capture_on_commit_callbacks():
        services.payment_retry(payment=retried)

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    changelist = reverse("admin:orders_deadletterpayment_changelist")

    def listed(query=""):
        page = client.get(changelist + query).content.decode()
        rows = {
            int(pk) for pk in re.findall(r'name="_selected_action" value="(\d+)"', page)
        }
        return {
            p.pk: int(p.pk in rows) for p in (still_open, paid_later, retried)
        }, page

    everything, page = listed()
    assert everything == {still_open.pk: 1, paid_later.pk: 1, retried.pk: 1}
    assert "Open: Gave up after 5 attempts (processing error)." in page
    assert "Resolved: the order is paid" in page
    assert "Retried: under way" in page
    assert listed("?state=open")[0] == {
        still_open.pk: 1,
        paid_later.pk: 0,
        retried.pk: 0,
    }
    assert listed("?state=resolved")[0] == {
        still_open.pk: 0,
        paid_later.pk: 1,
        retried.pk: 1,
    }


@pytest.mark.parametrize(
    ("expiry", "cvc", "error"),
    [
        ("13/30", "123", "Enter the expiry as on the card: MM/YY."),
        ("01/20", "123", "This card has expired."),
        ("1230", "123", "Enter the expiry as on the card: MM/YY."),
        ("12/٣٤", "123", "Enter the expiry as on the card: MM/YY."),  # ASCII only.
        ("12/34", "12", "Enter the 3 or 4 digits on the back of the card."),
        ("12/34", "١٢٣", "Enter the 3 or 4 digits on the back of the card."),
    ],
)
def test_expiry_and_cvc_are_checked_like_a_real_checkout(
    client, user, order, expiry, cvc, error
):
    client.force_login(user)
    response = client.post(
        reverse("orders:pay", args=[order.pk]),
        {"card_number": "4242424242424242", "expiry": expiry, "cvc": cvc},
    )
    assert error in response.content.decode()
    assert not Payment.objects.exists()


def test_expiry_and_cvc_are_never_stored(
    client, user, order, django_capture_on_commit_callbacks
):
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("orders:pay", args=[order.pk]),
            {"card_number": "4242424242424242", "expiry": "07/31", "cvc": "987"},
        )
    stored = Payment.objects.values().get()
    assert not {"expiry", "cvc"} & set(stored)
    assert "987" not in stored.values()
    assert not any("07/31" in str(value) for value in stored.values())


def test_admin_pages_link_the_app_icon(client):
    """Else browsers ask the admin's every page for /favicon.ico."""
    icon = re.compile(r'<link rel="icon" href="[^"]*/favicon[.\w]*\.svg"')
    assert icon.search(client.get(reverse("admin:login")).content.decode())
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    for url in (
        reverse("admin:index"),
        reverse("admin:orders_deadletterpayment_changelist"),
        reverse("admin:orders_order_add"),
    ):
        assert icon.search(client.get(url).content.decode()), url


def test_an_order_paid_without_a_payment_here_shows_paid_and_offers_no_payment(
    client, user, order
):
    # Seeded so, or paid by staff: the order has no payment job.
    Order.objects.filter(pk=order.pk).update(
        status=Order.Status.PAID, paid_at=order.ordered_at
    )
    client.force_login(user)
    row = client.get(reverse("orders:list")).content.decode()
    assert "Not paid yet" not in row
    assert "Paid</span>" in row
    page = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert "Pay $" not in page
    assert reverse("orders:pay", args=[order.pk]) not in page
    assert "there is nothing to pay." in page
    assert "imported" not in page


def test_an_order_imported_as_paid_says_so_and_offers_no_payment(
    client, user, products, django_capture_on_commit_callbacks
):
    data = csv_bytes([["A-1001", "2024-05-01", "MUG-01", "1", "", "paid"]])
    with django_capture_on_commit_callbacks(execute=True):
        imports.order_import_start(owner=user, file=upload(data))
    imported = Order.objects.get(external_id="A-1001")
    client.force_login(user)
    row = client.get(reverse("orders:list")).content.decode()
    assert "Paid (imported)" in row and "Not paid yet" not in row
    page = client.get(reverse("orders:detail", args=[imported.pk])).content.decode()
    assert "before it was imported: there is nothing to pay" in page
    assert reverse("orders:pay", args=[imported.pk]) not in page


def test_an_imported_order_awaiting_payment_can_be_paid(client, user, order):
    Order.objects.filter(pk=order.pk).update(external_id="A-1002")
    client.force_login(user)
    assert "Not paid yet" in client.get(reverse("orders:list")).content.decode()
    page = client.get(reverse("orders:detail", args=[order.pk])).content.decode()
    assert f"Pay ${order.total}" in page


def test_seeded_demo_orders_paid_offer_no_payment(client, user, products):
    services.orders_seed_demo(email=user.email, days=3)
    client.force_login(user)
    page = client.get(reverse("orders:list")).content.decode()
    paid = Order.objects.filter(owner=user, status=Order.Status.PAID)
    assert paid.exists()
    assert "(imported)" not in page  # Seeded, not imported.
    for order in paid:
        detail = client.get(reverse("orders:detail", args=[order.pk]))
        assert "Pay $" not in detail.content.decode()
