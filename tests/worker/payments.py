"""Steps and checks shared by the worker tests that pay for orders."""

import uuid

from apps.notifications.models import OutgoingEmail
from apps.orders import services
from apps.orders.models import GatewayCharge, Order, Payment, Product
from tests.processes import CeleryWorker, wait_until

SUCCEEDS = "4242424242424242"
FAILS_TWICE = "4000000000000119"
# The fake gateway records a charge, then takes this long to answer: the window
# in which a killed worker has charged the card without knowing it.
SLOW_GATEWAY = "5"


def order_place(user) -> Order:
    services.products_seed_demo()
    mug = Product.objects.get(sku="MUG-01")
    return services.order_place(
        owner=user, quantities={mug.pk: 2}, checkout_token=uuid.uuid4()
    )


def charged_while_running(payment: Payment) -> bool:
    """The gateway has charged the card; the worker is still waiting for its answer."""
    charged = GatewayCharge.objects.filter(
        idempotency_key=payment.idempotency_key, status="succeeded"
    ).exists()
    return charged and Payment.objects.filter(pk=payment.pk, status="running").exists()


def pay_and_wait_for_the_charge(worker: CeleryWorker, order: Order) -> Payment:
    """Pay with a good card and return once the gateway has charged it, while
    the slow gateway still holds back its answer: the moment to kill the worker."""
    payment = services.payment_start(order=order, card_number=SUCCEEDS)
    wait_until(
        lambda: charged_while_running(payment),
        timeout=15,
        interval=0.02,
        message=f"the card was not charged:\n{worker.output()}",
    )
    return payment


def assert_paid_once(payment: Payment, *, attempts: int, requests: int):
    payment.refresh_from_db()
    assert payment.status == "succeeded"
    assert payment.attempts == attempts
    charge = GatewayCharge.objects.get(idempotency_key=payment.idempotency_key)
    assert charge.status == "succeeded"
    assert charge.requests == requests
    assert GatewayCharge.objects.filter(status="succeeded").count() == 1
    assert payment.charge_id == charge.charge_id
    order = Order.objects.get(pk=payment.order_id)
    assert order.status == "paid"
    assert order.paid_at is not None
    receipts = OutgoingEmail.objects.filter(owner=order.owner, template="order_paid")
    # Queued once the invoice is rendered (the chain's second step), then
    # sent by the worker.
    wait_until(
        lambda: receipts.filter(status="succeeded").exists(),
        timeout=30,
        message="the order_paid email was not sent",
    )
    assert receipts.count() == 1
