"""Payments through a real Redis broker and real `celery worker` processes.

The whole worker SIGKILLed mid-charge is in test_recovery.py, with the sweeper
on its real schedule.
"""

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import NamedTuple

import pytest
from django.utils import timezone

from apps.orders import services, tasks
from apps.orders.models import Payment
from tests.processes import wait_until
from tests.worker.payments import (
    FAILS_TWICE,
    SLOW_GATEWAY,
    SUCCEEDS,
    assert_paid_once,
    pay_and_wait_for_the_charge,
)

pytestmark = [pytest.mark.worker]


@pytest.fixture
def worker_env():
    # Retries after about 1 s, then 1-2 s, instead of 4 s then 8 s.
    return {"PAYMENT_RETRY_BACKOFF": "1", "PAYMENT_GATEWAY_LATENCY": "0.2"}


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
