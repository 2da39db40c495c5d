import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.core import mail
from django.utils import timezone

from apps.core import services as jobs
from apps.core import sweeper
from apps.core.job_task import UNEXPECTED_FAILURE
from apps.notifications.models import Notification, OutgoingEmail
from apps.orders import services, tasks
from apps.orders.models import GatewayCharge, Invoice, Order, Payment
from tests.orders.attempts import exhaust, process

pytestmark = pytest.mark.django_db

SUCCEEDS = "4242424242424242"
DECLINED = "4000000000000002"
FAILS_TWICE = "4000000000000119"
ALWAYS_FAILS = "4000000000000127"
LOST_RESPONSE = "4000000000000259"


@pytest.fixture
def order(user, products):
    mug, tee = products[2], products[4]  # MUG-01 12.00, TEE-01 24.50
    return services.order_place(
        owner=user, quantities={mug.pk: 2, tee.pk: 1}, checkout_token=uuid.uuid4()
    )


def start(order, card, capture):
    with capture(execute=False):
        return services.payment_start(order=order, card_number=card)


def test_order_total_comes_from_server_prices_and_lines_keep_them(order, products):
    assert order.total == Decimal("48.50")
    assert [
        (ln.product_name, ln.unit_price, ln.quantity) for ln in order.lines.all()
    ] == [
        ("Broker T-shirt", Decimal("24.50"), 1),
        ("Celery mug", Decimal("12.00"), 2),
    ]
    products[2].price = Decimal("99.00")
    products[2].save()
    order.refresh_from_db()
    assert order.total == Decimal("48.50")
    assert order.status == Order.Status.AWAITING_PAYMENT


def test_same_checkout_token_places_one_order(user, products):
    token = uuid.uuid4()
    first = services.order_place(
        owner=user, quantities={products[0].pk: 1}, checkout_token=token
    )
    again = services.order_place(
        owner=user, quantities={products[0].pk: 5}, checkout_token=token
    )
    assert first.pk == again.pk
    assert Order.objects.count() == 1


def test_order_without_products_is_refused(user, products):
    products[0].is_active = False
    products[0].save()
    with pytest.raises(ValueError):
        services.order_place(
            owner=user,
            quantities={products[0].pk: 3, products[1].pk: 0},
            checkout_token=uuid.uuid4(),
        )


def test_payment_is_published_after_commit_with_one_key(
    order, django_capture_on_commit_callbacks
):
    payment = start(order, SUCCEEDS, django_capture_on_commit_callbacks)
    order.refresh_from_db()
    assert order.status == Order.Status.PROCESSING
    assert payment.status == Payment.Status.QUEUED
    assert payment.amount == order.total
    assert payment.card_last4 == "4242"
    assert payment.idempotency_key.startswith(f"order-{order.pk}-payment-")
    assert not GatewayCharge.objects.exists()  # Nothing charged in the request.


def test_double_submitted_payment_creates_one_payment(
    order, django_capture_on_commit_callbacks
):
    first = start(order, SUCCEEDS, django_capture_on_commit_callbacks)
    second = start(order, SUCCEEDS, django_capture_on_commit_callbacks)
    assert first.pk == second.pk
    assert Payment.objects.count() == 1


def test_succeeding_card_pays_the_order_and_emails_a_receipt(
    order, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        payment = services.payment_start(order=order, card_number=SUCCEEDS)
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (payment.status, payment.attempts) == ("succeeded", 1)
    assert payment.charge_id == GatewayCharge.objects.get().charge_id
    assert order.status == Order.Status.PAID
    assert order.paid_at is not None
    receipt = OutgoingEmail.objects.get(template="order_paid")
    assert receipt.subject == f"Order #{order.pk} is paid"
    assert f"http://127.0.0.1:8000/orders/{order.pk}/" in receipt.body_text
    assert [m.subject for m in mail.outbox] == [receipt.subject]
    paid = Notification.objects.get(owner=order.owner, kind="payment_paid")
    assert paid.url == f"/orders/{order.pk}/"
    assert Notification.objects.filter(owner=order.owner).count() == 2  # + invoice


def test_declined_card_fails_without_retry(order, django_capture_on_commit_callbacks):
    payment = start(order, DECLINED, django_capture_on_commit_callbacks)
    assert process(payment) is None
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (payment.status, payment.attempts) == ("failed", 1)
    assert payment.error_message == "Your card was declined."
    assert payment.failure_code == "card_declined"
    assert payment.dead_lettered_at is None  # The user's to fix, not staff's.
    assert order.status == Order.Status.PAYMENT_FAILED
    assert OutgoingEmail.objects.filter(template="payment_failed").count() == 1
    (failed,) = Notification.objects.filter(owner=order.owner)
    assert failed.kind == "payment_failed"
    assert failed.message.endswith("Your card was declined.")


def test_another_card_may_be_tried_after_a_decline(
    order, django_capture_on_commit_callbacks
):
    declined = start(order, DECLINED, django_capture_on_commit_callbacks)
    process(declined)
    second = start(
        order.__class__.objects.get(pk=order.pk),
        SUCCEEDS,
        django_capture_on_commit_callbacks,
    )
    assert second.pk != declined.pk
    assert process(second) is None
    order.refresh_from_db()
    assert order.status == Order.Status.PAID


def test_transient_failures_back_off_then_the_payment_succeeds(
    order, django_capture_on_commit_callbacks, settings
):
    payment = start(order, FAILS_TWICE, django_capture_on_commit_callbacks)
    first_delay = process(payment)
    payment.refresh_from_db()
    assert payment.status == "retrying"
    assert payment.stage == "Attempt 1 of 5 failed"
    assert payment.error_message == "processing error"
    step = Payment.retry_backoff  # Jittered down to no less than half a step.
    assert step / 2 <= first_delay <= step
    assert payment.retry_in_seconds in (first_delay - 1, first_delay)

    second_delay = process(payment)
    payment.refresh_from_db()
    assert payment.stage == "Attempt 2 of 5 failed"
    assert step <= second_delay <= 2 * step

    assert process(payment) is None
    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("succeeded", 3)
    assert GatewayCharge.objects.get().requests == 3


def test_backoff_schedule_of_a_payment_stays_under_its_cap(
    order, django_capture_on_commit_callbacks
):
    payment = start(order, ALWAYS_FAILS, django_capture_on_commit_callbacks)
    delays = [process(payment) for _ in range(payment.max_attempts)]
    assert delays[-1] is None  # The fifth failure ends it.
    for attempt, delay in enumerate(delays[:-1], start=1):
        step = min(
            Payment.retry_backoff_max, Payment.retry_backoff * 2 ** (attempt - 1)
        )
        assert step / 2 <= delay <= step


def test_exhausted_retries_fail_the_payment_into_the_dead_letter_list(
    order, django_capture_on_commit_callbacks
):
    payment = start(order, ALWAYS_FAILS, django_capture_on_commit_callbacks)
    exhaust(payment)
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (payment.status, payment.attempts) == ("failed", 5)
    assert payment.error_message == "Gave up after 5 attempts (processing error)."
    assert payment.dead_lettered_at is not None
    assert payment.failure_code == "processing_error"  # The gateway's, as it said.
    assert order.status == Order.Status.PAYMENT_FAILED
    failed_email = OutgoingEmail.objects.get(template="payment_failed")
    assert "Gave up after 5 attempts" in failed_email.body_text


def test_staff_retry_of_a_dead_letter_reuses_its_key(
    order, django_capture_on_commit_callbacks
):
    payment = start(order, ALWAYS_FAILS, django_capture_on_commit_callbacks)
    exhaust(payment)
    with django_capture_on_commit_callbacks(execute=False) as published:
        assert services.payment_retry(payment=payment) is True
    assert len(published) == 1
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (payment.status, payment.attempts) == ("queued", 0)
    assert payment.dead_lettered_at is not None  # Listed as resolved: retried.
    assert order.status == Order.Status.PROCESSING
    assert GatewayCharge.objects.get().idempotency_key == payment.idempotency_key


def test_staff_retry_is_refused_once_the_order_is_paid(
    order, django_capture_on_commit_callbacks
):
    dead = start(order, ALWAYS_FAILS, django_capture_on_commit_callbacks)
    exhaust(dead)
    paid = start(
        Order.objects.get(pk=order.pk), SUCCEEDS, django_capture_on_commit_callbacks
    )
    process(paid)
    assert services.payment_retry(payment=dead) is False
    dead.refresh_from_db()
    assert dead.status == "failed"


def test_redelivered_payment_task_never_charges_twice(
    order, django_capture_on_commit_callbacks, settings
):
    settings.DEMO_MODE = True  # The lost-response card: charged, answer lost.
    payment = start(order, LOST_RESPONSE, django_capture_on_commit_callbacks)
    assert process(payment) is not None  # Looks like a timeout: retry.
    assert GatewayCharge.objects.get().status == "succeeded"
    assert process(payment) is None
    tasks.payment_process(payment.pk)  # A stray duplicate after success.
    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("succeeded", 2)
    assert GatewayCharge.objects.count() == 1
    # One invoice, whose chain sends the one "order paid" email.
    assert Invoice.objects.filter(order=order).count() == 1


def test_payment_task_twice_charges_once(order, django_capture_on_commit_callbacks):
    payment = start(order, SUCCEEDS, django_capture_on_commit_callbacks)
    tasks.payment_process(payment.pk)
    tasks.payment_process(payment.pk)
    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("succeeded", 1)
    assert GatewayCharge.objects.get().requests == 1


def test_payment_task_for_a_deleted_order_does_nothing(
    order, django_capture_on_commit_callbacks, caplog
):
    payment = start(order, SUCCEEDS, django_capture_on_commit_callbacks)
    order.delete()  # Its payment goes with it.
    with caplog.at_level("INFO", logger="apps.core.job_task"):
        tasks.payment_process(payment.pk)
    assert f"Payment {payment.pk} is gone: nothing to do" in caplog.messages
    assert not GatewayCharge.objects.exists()
    assert not OutgoingEmail.objects.filter(template="payment_failed").exists()


def test_sweeper_finishes_a_payment_whose_worker_died_mid_charge(
    order, django_capture_on_commit_callbacks
):
    payment = start(order, SUCCEEDS, django_capture_on_commit_callbacks)
    jobs.job_start(payment, task_id=payment.task_id)  # Claimed; its worker died.
    Payment.objects.filter(pk=payment.pk).update(
        enqueued_at=timezone.now() - timedelta(minutes=5),
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert sweeper.jobs_sweep() == 1
    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("succeeded", 2)
    assert GatewayCharge.objects.count() == 1


def test_sweeper_leaves_a_payment_running_within_its_lease(
    order, django_capture_on_commit_callbacks
):
    payment = start(order, SUCCEEDS, django_capture_on_commit_callbacks)
    jobs.job_start(payment, task_id=payment.task_id)
    assert sweeper.jobs_sweep() == 0


def test_seed_demo_command_is_safe_to_run_twice(db, settings):
    settings.DEMO_MODE = True
    from django.core.management import call_command

    from apps.accounts.models import User
    from apps.orders.models import Product

    call_command("seed_demo")
    call_command("seed_demo")
    assert Product.objects.count() == len(services.DEMO_PRODUCTS)
    # A few months of orders for the demo user's reports, once.
    assert Order.objects.filter(owner__email="demo@example.com").count() == 180
    assert (
        User.objects.filter(email__in=["demo@example.com", "admin@example.com"]).count()
        == 2
    )


def test_last_attempt_timing_out_after_the_charge_ends_paid_not_failed(
    order, django_capture_on_commit_callbacks, settings
):
    # The fifth attempt is charged but its answer is lost: failing it would
    # let the user pay again with another card.
    settings.DEMO_MODE = True
    payment = start(order, LOST_RESPONSE, django_capture_on_commit_callbacks)
    Payment.objects.filter(pk=payment.pk).update(attempts=payment.max_attempts - 1)
    assert process(payment) is None
    payment.refresh_from_db()
    order.refresh_from_db()
    assert (payment.status, payment.attempts) == ("succeeded", 5)
    assert order.status == Order.Status.PAID
    assert payment.charge_id == GatewayCharge.objects.get().charge_id


def test_payment_interrupted_on_every_attempt_fails_the_order_for_the_user(
    order, django_capture_on_commit_callbacks
):
    payment = start(order, SUCCEEDS, django_capture_on_commit_callbacks)
    # Five attempts claimed it and died without a word (killed workers).
    Payment.objects.filter(pk=payment.pk).update(
        status="running",
        attempts=payment.max_attempts,
        lease_expires_at=timezone.now() - timedelta(hours=1),
    )
    assert process(payment) is None
    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.status == "failed"
    assert payment.error_message.startswith("Stopped after 5 attempts")
    assert payment.dead_lettered_at is not None
    assert order.status == Order.Status.PAYMENT_FAILED  # Payable again.
    assert OutgoingEmail.objects.filter(template="payment_failed").count() == 1
    assert not GatewayCharge.objects.exists()


def test_interrupted_payment_whose_card_was_charged_ends_paid(
    order, django_capture_on_commit_callbacks
):
    payment = start(order, SUCCEEDS, django_capture_on_commit_callbacks)
    process(payment)  # Charged and paid...
    Payment.objects.filter(pk=payment.pk).update(  # ...then, say, a restore.
        status="running",
        attempts=payment.max_attempts,
        lease_expires_at=timezone.now() - timedelta(hours=1),
    )
    Order.objects.filter(pk=order.pk).update(status=Order.Status.PROCESSING)
    process(payment)
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert GatewayCharge.objects.count() == 1


def test_stray_message_cannot_run_a_retry_before_it_is_due(
    order, django_capture_on_commit_callbacks
):
    payment = start(order, FAILS_TWICE, django_capture_on_commit_callbacks)
    process(payment)
    tasks.payment_process(payment.pk)  # A duplicate, early, with no task id.
    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("retrying", 1)


def test_same_message_again_leaves_a_running_payment_alone_unless_redelivered(
    order, django_capture_on_commit_callbacks
):
    payment = start(order, SUCCEEDS, django_capture_on_commit_callbacks)
    jobs.job_start(payment, task_id=payment.task_id)
    # The message that claimed it, delivered a second time while the first
    # run may still be alive (no redelivered flag): hands off.
    tasks.payment_process.apply(args=[payment.pk], task_id=payment.task_id)
    payment.refresh_from_db()
    assert (payment.status, payment.attempts) == ("running", 1)
    assert not GatewayCharge.objects.exists()


def test_sweeper_does_not_republish_what_it_just_published(
    order, django_capture_on_commit_callbacks
):
    payment = start(order, SUCCEEDS, django_capture_on_commit_callbacks)
    jobs.job_start(payment, task_id=payment.task_id)
    long_ago = timezone.now() - timedelta(minutes=5)
    Payment.objects.filter(pk=payment.pk).update(
        enqueued_at=long_ago, lease_expires_at=long_ago
    )
    with django_capture_on_commit_callbacks(execute=False):
        assert sweeper.jobs_sweep() == 1
        assert sweeper.jobs_sweep() == 0


def test_seed_demo_refuses_outside_demo_mode(db, settings):
    from django.core.management import CommandError, call_command

    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="DEMO_MODE"):
        call_command("seed_demo")


def test_a_payment_that_fails_unexpectedly_leaves_its_order_payable(
    order, django_capture_on_commit_callbacks, monkeypatch
):
    payment = start(order, SUCCEEDS, django_capture_on_commit_callbacks)

    def charge(**kwargs):
        raise RuntimeError("a bug in the gateway client")

    monkeypatch.setattr(services.gateway, "charge", charge)
    process(payment)
    payment.refresh_from_db()
    order.refresh_from_db()
    # Through the payment's give-up hook: it asked the gateway, then failed
    # the payment its own way: dead letter, email, and the order payable again.
    assert (payment.status, payment.error_message) == ("failed", UNEXPECTED_FAILURE)
    assert (payment.failure_code, order.status) == ("error", "payment_failed")
    assert payment.dead_lettered_at is not None
    assert OutgoingEmail.objects.filter(template="payment_failed").count() == 1
    assert order.is_payable


def test_a_time_limit_hit_after_the_charge_still_ends_the_payment_paid(
    order, django_capture_on_commit_callbacks, monkeypatch
):
    payment = start(order, SUCCEEDS, django_capture_on_commit_callbacks)
    real_invoice_start = services.invoices.invoice_start
    calls = []

    def slow_first_time(**kwargs):
        calls.append(kwargs["order"])
        if len(calls) == 1:
            raise SoftTimeLimitExceeded  # While recording the success.
        return real_invoice_start(**kwargs)

    monkeypatch.setattr(services.invoices, "invoice_start", slow_first_time)
    process(payment)
    payment.refresh_from_db()
    order.refresh_from_db()
    # The give-up hook found the charge at the gateway: paid, not failed.
    assert (payment.status, order.status) == ("succeeded", "paid")
    assert GatewayCharge.objects.get().requests == 1
    assert Invoice.objects.filter(order=order).count() == 1


def test_a_payment_whose_settlement_fails_is_settled_by_a_later_attempt(
    order, django_capture_on_commit_callbacks, monkeypatch
):
    payment = start(order, ALWAYS_FAILS, django_capture_on_commit_callbacks)

    def lookup_down(**kwargs):
        raise services.gateway.GatewayUnavailable("the gateway is down")

    with monkeypatch.context() as patch:
        patch.setattr(services.gateway, "charge_lookup", lookup_down)
        exhaust(payment)
    payment.refresh_from_db()
    order.refresh_from_db()
    # Not failed half settled (order stuck processing): released instead.
    assert (payment.status, payment.attempts) == ("running", 5)
    assert payment.worker_lost
    # The sweeper's message, once the gateway answers lookups again.
    process(payment)
    payment.refresh_from_db()
    order.refresh_from_db()
    assert payment.status == "failed"
    assert payment.error_message == "Gave up after 5 attempts (processing error)."
    assert payment.dead_lettered_at is not None
    assert order.is_payable
    assert OutgoingEmail.objects.filter(template="payment_failed").count() == 1
