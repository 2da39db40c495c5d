"""Payments through a real Redis broker and real `celery worker` processes."""

import json
import os
import signal
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import NamedTuple

import pytest
from django.utils import timezone
from kombu import Connection

from apps.core import selectors
from apps.core import services as jobs
from apps.notifications.models import OutgoingEmail
from apps.orders import services, tasks
from apps.orders.models import GatewayCharge, Order, Payment, Product
from tests.processes import CeleryWorker, wait_until

pytestmark = [pytest.mark.worker]

SUCCEEDS = "4242424242424242"
FAILS_TWICE = "4000000000000119"
# The fake gateway records a charge, then takes this long to answer: the window
# in which a killed worker has charged the card without knowing it.
SLOW_GATEWAY = "5"


@pytest.fixture
def worker_env():
    # Retries after about 1 s, then 1-2 s, instead of 4 s then 8 s.
    return {"PAYMENT_RETRY_BACKOFF": "1", "PAYMENT_GATEWAY_LATENCY": "0.2"}


@pytest.fixture
def order(transactional_db, user):
    services.products_seed_demo()
    mug = Product.objects.get(sku="MUG-01")
    return services.order_place(
        owner=user, quantities={mug.pk: 2}, checkout_token=uuid.uuid4()
    )


class Change(NamedTuple):
    elapsed: float  # Seconds since the timeline started.
    status: str
    attempts: int
    stage: str
    next_retry_at: datetime | None
    started_at: datetime | None  # Not watched: it changes with attempts.

    @property
    def watched(self) -> tuple:
        return self.status, self.attempts, self.stage, self.next_retry_at


class Timeline:
    """Every change of a payment's (status, attempts, stage, next_retry_at)."""

    def __init__(self):
        self.started = time.monotonic()
        self.started_at = timezone.now()
        self.changes: list[Change] = []

    def poll(self, payment: Payment) -> str:
        row = Payment.objects.values(*Change._fields[1:]).get(pk=payment.pk)
        change = Change(time.monotonic() - self.started, **row)
        if not self.changes or self.changes[-1].watched != change.watched:
            self.changes.append(change)
        return change.status

    def since_start(self, moment: datetime | None) -> str:
        if moment is None:
            return "-"
        return f"+{(moment - self.started_at).total_seconds():.2f}s"

    def print(self, title: str):
        print(f"\n{title}")
        for change in self.changes:
            print(
                f"  +{change.elapsed:5.2f}s  {change.status:<9} "
                f"attempts={change.attempts}  stage={change.stage!r:<34} "
                f"next_retry_at={self.since_start(change.next_retry_at)}"
            )


def charged_while_running(payment: Payment) -> bool:
    """The gateway has charged the card; the worker is still waiting for its answer."""
    charged = GatewayCharge.objects.filter(
        idempotency_key=payment.idempotency_key, status="succeeded"
    ).exists()
    return charged and Payment.objects.filter(pk=payment.pk, status="running").exists()


def pay_and_wait_for_the_charge(worker: CeleryWorker, order) -> Payment:
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
    assert receipts.count() == 1
    # Sent by the worker, not just queued.
    wait_until(
        lambda: receipts.filter(status="succeeded").exists(),
        timeout=15,
        message="the order_paid email was not sent",
    )


def test_twice_failing_card_ends_paid_after_two_retries(order, celery_worker):
    timeline = Timeline()
    payment = services.payment_start(order=order, card_number=FAILS_TWICE)
    try:
        wait_until(
            lambda: timeline.poll(payment) in Payment.FINAL_STATUSES,
            timeout=30,
            interval=0.02,
            message="the payment did not finish within 30 s",
        )
    finally:
        timeline.print(
            f"Retry timeline of payment {payment.pk} (card {FAILS_TWICE}, "
            "PAYMENT_RETRY_BACKOFF=1, PAYMENT_GATEWAY_LATENCY=0.2):"
        )

    retrying = [c for c in timeline.changes if c.status == "retrying"]
    assert [c.stage for c in retrying] == [
        "Attempt 1 of 5 failed",
        "Attempt 2 of 5 failed",
    ]
    # Each retry waited for its backoff: attempt n+1 started no earlier than
    # the next_retry_at that attempt n announced.
    began = {c.attempts: c.started_at for c in timeline.changes if c.attempts}
    for change in retrying:
        waited = began[change.attempts + 1] - change.next_retry_at
        assert waited.total_seconds() > -0.1
    assert_paid_once(payment, attempts=3, requests=3)


def test_worker_killed_after_the_charge_is_recovered_by_the_sweeper_once(
    order, start_worker, broker
):
    """The whole worker dies (SIGKILL) between the charge and its answer.

    Redis keeps the message unacknowledged until the visibility timeout (an
    hour; the start-up check refuses anything under 181 s), so the restarted
    worker gets nothing back. The sweeper (beat runs it every minute) publishes
    the payment again once its running lease has passed; the gateway answers the
    second request with the first charge.
    """
    first = start_worker(PAYMENT_GATEWAY_LATENCY=SLOW_GATEWAY, concurrency=1)
    started = time.monotonic()
    payment = pay_and_wait_for_the_charge(first, order)
    original_task_id = payment.task_id
    first.kill()
    killed = time.monotonic() - started
    restarted = start_worker(PAYMENT_GATEWAY_LATENCY="0.2", concurrency=1)

    payment.refresh_from_db()
    lease_ends = payment.started_at + selectors.job_running_lease(Payment)
    # Nothing hands the payment out again before its lease ends.
    while timezone.now() < lease_ends:
        payment.refresh_from_db()
        assert (payment.status, payment.attempts) == ("running", 1)
        time.sleep(0.5)
    assert jobs.jobs_sweep() == 1
    swept = time.monotonic() - started
    wait_until(
        lambda: Payment.objects.filter(pk=payment.pk, status="succeeded").exists(),
        timeout=15,
        message="the swept payment did not succeed",
    )
    print(
        f"\nPayment published at +0.00s, card charged and worker killed at "
        f"+{killed:.2f}s, lease over and swept at +{swept:.2f}s, paid at "
        f"+{time.monotonic() - started:.2f}s"
    )
    assert_paid_once(payment, attempts=2, requests=2)

    # The killed worker's message is still in Redis, unacknowledged. Hand it
    # out now, as the visibility timeout eventually will: it changes nothing.
    with Connection(broker.url) as broker_connection:
        channel = broker_connection.default_channel
        tags = [
            tag
            for tag, raw in channel.client.hgetall(channel.unacked_key).items()
            if json.loads(raw)[0]["headers"]["id"] == original_task_id
        ]
        assert len(tags) == 1
        channel.qos.restore_by_tag(tags[0])
    wait_until(
        lambda: f"payment_process[{original_task_id}] succeeded" in restarted.output(),
        timeout=15,
        message=f"the original message was not redelivered:\n{restarted.output()}",
    )
    assert_paid_once(payment, attempts=2, requests=2)


def test_pool_child_killed_after_the_charge_is_run_again_and_charges_once(
    order, start_worker
):
    """Only the pool process dies: acks_late and reject_on_worker_lost requeue the
    message at once, and its redelivery (same task id) takes over the running row."""
    worker = start_worker(PAYMENT_GATEWAY_LATENCY=SLOW_GATEWAY, concurrency=1)
    payment = pay_and_wait_for_the_charge(worker, order)
    task_id = payment.task_id
    children = worker.pool_children()
    assert len(children) == 1
    os.kill(children[0], signal.SIGKILL)

    # The main process notices the dead child within ~5 s (pool maintenance),
    # requeues the message, and a new child charges again: 5 s of latency.
    wait_until(
        lambda: Payment.objects.filter(pk=payment.pk, status="succeeded").exists(),
        timeout=30,
        message=f"the payment did not succeed:\n{worker.output()}",
    )
    assert worker.process.poll() is None  # The main process lived on.
    assert "signal 9 (SIGKILL)" in worker.output()
    respawned = worker.pool_children()
    assert respawned
    assert respawned != children
    assert_paid_once(payment, attempts=2, requests=2)
    assert payment.task_id == task_id  # Taken over by the same message.
    assert worker.output().count(f"payment_process[{task_id}] received") == 2


def test_payment_task_published_twice_at_once_charges_once(order, celery_worker):
    payment = services.payment_start(order=order, card_number=SUCCEEDS)
    # The same payment published twice more at once, as a duplicate delivery
    # or an overlapping sweep would.
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda _: tasks.payment_process.delay(payment.pk), range(2)))

    # Received and succeeded for each of the three messages.
    wait_until(
        lambda: celery_worker.output().count("payment_process[") >= 2 * 3,
        timeout=15,
        message=f"not every message was consumed:\n{celery_worker.output()}",
    )
    assert_paid_once(payment, attempts=1, requests=1)
