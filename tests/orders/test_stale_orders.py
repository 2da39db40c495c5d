import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.notifications.models import OutgoingEmail
from apps.orders import services, tasks
from apps.orders.imports import services as imports
from apps.orders.models import Order
from tests.factories import UserFactory
from tests.orders.imports import csv_bytes, upload

pytestmark = pytest.mark.django_db


def place(owner, products, *, age_minutes, status=Order.Status.AWAITING_PAYMENT):
    order = services.order_place(
        owner=owner, quantities={products[0].pk: 1}, checkout_token=uuid.uuid4()
    )
    Order.objects.filter(pk=order.pk).update(
        created_at=timezone.now() - timedelta(minutes=age_minutes), status=status
    )
    return order


def test_orders_awaiting_payment_too_long_are_flagged_and_staff_told_once(
    user, products, settings, django_capture_on_commit_callbacks
):
    settings.ORDER_STALE_AFTER = 60
    staff = UserFactory(is_staff=True)
    stale = place(user, products, age_minutes=90)
    stuck = place(user, products, age_minutes=90, status=Order.Status.PROCESSING)
    place(user, products, age_minutes=10)
    place(user, products, age_minutes=90, status=Order.Status.PAID)

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.orders_flag_stale() == "Flagged 2 stale orders."
        assert (
            tasks.orders_flag_stale() == "Flagged 0 stale orders."
        )  # The next slot: nothing new.

    assert set(
        Order.objects.filter(flagged_stale_at__isnull=False).values_list(
            "pk", flat=True
        )
    ) == {stale.pk, stuck.pk}
    alert = OutgoingEmail.objects.get(template="orders_stale")
    assert alert.owner == staff
    assert alert.subject == "2 orders awaiting payment for over 60 minutes"
    assert f"Order #{stale.pk} by {user.email}" in alert.body_text
    assert "/admin/orders/order/?flagged=yes" in alert.body_text


def test_no_email_when_nothing_is_stale(user, products):
    UserFactory(is_staff=True)
    place(user, products, age_minutes=5)
    assert tasks.orders_flag_stale() == "Flagged 0 stale orders."
    assert not OutgoingEmail.objects.exists()


@pytest.fixture
def imported(user, products, settings, django_capture_on_commit_callbacks):
    """Order A-1, imported as awaiting payment; staff to tell; 60 minutes."""
    settings.ORDER_STALE_AFTER = 60
    UserFactory(is_staff=True)
    data = csv_bytes([["A-1", "2024-05-01", "MUG-01", "1", "", ""]])
    with django_capture_on_commit_callbacks(execute=True):
        imports.order_import_start(owner=user, file=upload(data))
    return Order.objects.get(external_id="A-1")


def test_imported_orders_awaiting_payment_are_not_stale_checkouts(user, imported):
    Order.objects.update(created_at=timezone.now() - timedelta(minutes=90))
    services.orders_seed_demo(email=user.email, days=3)
    Order.objects.update(created_at=timezone.now() - timedelta(minutes=90))
    assert Order.objects.filter(status=Order.Status.AWAITING_PAYMENT).count() > 1
    assert tasks.orders_flag_stale() == "Flagged 0 stale orders."
    assert not OutgoingEmail.objects.filter(template="orders_stale").exists()


def test_an_imported_order_whose_payment_here_is_stuck_is_flagged(imported):
    # Its owner started paying it here, and the payment is stuck.
    Order.objects.update(
        status=Order.Status.PROCESSING,
        created_at=timezone.now() - timedelta(minutes=90),
    )
    assert tasks.orders_flag_stale() == "Flagged 1 stale order."
