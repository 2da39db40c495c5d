"""
The whole worker SIGKILLed mid-task and during a retry wait (RELIABILITY.md,
Broker and workers), with a real beat running the sweeper on its own schedule.

Redis keeps a killed worker's messages unacknowledged until the visibility
timeout (an hour; the start-up check refuses anything under 181 s), so a new
worker gets nothing back from the broker. What brings the job back is its row:
no heartbeat renews its lease, the lease lapses, the sweeper publishes the job
again, and the new worker finishes it, once, within 30 s of its start. The
killed worker's own messages, handed out at last, change nothing.
"""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from kombu import Connection

from apps.core import selectors
from apps.core.models import Job
from apps.core.sweeper import RETRY_WAITING_FOR_WORKER, WORKER_LOST
from apps.orders import services
from apps.orders.models import Order, OrderImport, OrderLine, Payment
from tests.processes import CeleryWorker, wait_until
from tests.smtp import SMTPServer
from tests.worker.emails import wait_until_sending, welcome_email_queued
from tests.worker.imports import import_started
from tests.worker.payments import (
    FAILS_TWICE,
    SLOW_GATEWAY,
    assert_paid_once,
    pay_and_wait_for_the_charge,
)

pytestmark = [pytest.mark.worker]

# Seconds from the new worker's start to the job's end (RELIABILITY.md).
RECOVERY_BUDGET = 30
# Small, so that the retry's due time is not what the test measures: the
# first retry is due 1-2 s after attempt 1, the next 1-4 s after attempt 2.
RETRY_BACKOFF = "2"


@pytest.fixture
def sweeper(start_beat):
    """`celery beat`, which has a worker sweep every JOB_SWEEP_INTERVAL (5 s)."""
    return start_beat()


class Recovery:
    """Watch a job after its worker was killed, until it ends.

    Each poll also checks what the job's page would say: the dead attempt's
    lease is never renewed; once it lapsed the row says the worker was lost
    (or, swept, that another will take over); a retry nobody took says it is
    overdue. Never failed, never a stage that pretends all is well.
    """

    def __init__(self, job: Job):
        job.refresh_from_db()
        self.job = job
        self.model = type(job)
        self.killed_attempt = job.attempts
        self.killed_task_id = job.task_id
        self.killed_at = timezone.now()
        self.ready = 0.0  # time.monotonic() when the new worker was ready
        self.changes: list[tuple[float, str]] = []

    def until_final(self, new_worker: CeleryWorker) -> float:
        """Seconds from the new worker being ready to the job's end."""
        self.ready = time.monotonic()
        try:
            wait_until(
                lambda: self.poll().is_final,
                timeout=RECOVERY_BUDGET,
                interval=0.05,
                message=(
                    f"{self.job} not done {RECOVERY_BUDGET} s after the new worker "
                    f"started:\n{new_worker.output()}"
                ),
            )
        finally:
            self.print()
        return time.monotonic() - self.ready

    def poll(self) -> Job:
        row = self.model.objects.get(pk=self.job.pk)
        label = self.honest_state(row, timezone.now())
        if not self.changes or self.changes[-1][1] != label:
            self.changes.append((time.monotonic() - self.ready, label))
        return row

    def honest_state(self, row: Job, now) -> str:
        """What the page says about the row, checked against the truth."""
        if row.is_final or row.attempts != self.killed_attempt:
            return f"{row.status}, attempt {row.attempts}: {row.stage}"
        swept = " (swept)" if row.task_id != self.killed_task_id else ""
        if row.status == Job.Status.RUNNING:
            lease_seconds = timedelta(seconds=row.lease_seconds)
            assert row.lease_expires_at <= self.killed_at + lease_seconds, (
                "a dead worker's lease was renewed"
            )
            if row.lease_expires_at >= now:
                return f"running, lease not lapsed yet: {row.stage}"
            assert row.worker_lost
            if swept:
                assert row.stage == WORKER_LOST
            return f"running, worker lost{swept}: {row.stage}"
        if row.status == Job.Status.RETRYING:
            if (now - row.next_retry_at).total_seconds() <= 5:
                return f"retrying, due in {row.retry_in_seconds} s: {row.stage}"
            assert row.retry_overdue
            if swept:
                assert row.stage == RETRY_WAITING_FOR_WORKER
            return f"retrying, overdue{swept}: {row.stage}"
        raise AssertionError(f"{row} is {row.status} after its worker was killed")

    def saw(self, prefix: str) -> bool:
        return any(label.startswith(prefix) for _, label in self.changes)

    def print(self):
        print(f"\n{self.job}, from the new worker's start:")
        for seconds, label in self.changes:
            print(f"  {seconds:+6.2f} s  {label}")

    def hand_out_the_killed_message(self, broker_url: str, new_worker: CeleryWorker):
        """Give the new worker the killed worker's message, still unacknowledged
        in Redis, as the visibility timeout eventually will; wait until it ran."""
        task_id = self.killed_task_id
        with Connection(broker_url) as connection:
            channel = connection.default_channel
            tags = [
                tag
                for tag, raw in channel.client.hgetall(channel.unacked_key).items()
                if json.loads(raw)[0]["headers"]["id"] == task_id
            ]
            assert len(tags) == 1
            channel.qos.restore_by_tag(tags[0])
        wait_until(
            lambda: f"[{task_id}] succeeded" in new_worker.output(),
            timeout=15,
            message=f"the killed message was not handed out:\n{new_worker.output()}",
        )


def outcomes(job: Job) -> list[tuple[int, str]]:
    return [(a.number, a.outcome) for a in selectors.job_attempts(job)]


def swept(worker: CeleryWorker, job: Job) -> int:
    """How often the sweeper published `job` again, in this worker's log."""
    return worker.output().count(f"Sweeper republished {type(job).__name__} {job.pk} (")


def test_worker_killed_after_the_charge_is_paid_once_by_a_new_worker(
    order, start_worker, sweeper, broker
):
    first = start_worker(PAYMENT_GATEWAY_LATENCY=SLOW_GATEWAY, concurrency=1)
    payment = pay_and_wait_for_the_charge(first, order)
    first.kill()  # The card is charged; the gateway's answer never arrives.
    recovery = Recovery(payment)
    new = start_worker(PAYMENT_GATEWAY_LATENCY="0.2", concurrency=1)

    seconds = recovery.until_final(new)
    print(f"recovered in {seconds:.1f} s after the new worker started")
    assert seconds < RECOVERY_BUDGET
    assert_paid_once(payment, attempts=2, requests=2)
    assert outcomes(payment) == [(1, "interrupted"), (2, "succeeded")]
    assert swept(new, payment) == 1

    recovery.hand_out_the_killed_message(broker.url, new)
    assert_paid_once(payment, attempts=2, requests=2)
    assert outcomes(payment) == [(1, "interrupted"), (2, "succeeded")]


def test_worker_killed_during_a_retry_wait_is_paid_once_by_a_new_worker(
    order, start_worker, sweeper, broker
):
    env = {"PAYMENT_RETRY_BACKOFF": RETRY_BACKOFF, "PAYMENT_GATEWAY_LATENCY": "0.2"}
    first = start_worker(concurrency=1, **env)
    payment = services.payment_start(order=order, card_number=FAILS_TWICE)
    # Attempt 1 failed, and its retry message waits out its countdown in the
    # worker (received with an ETA).
    wait_until(
        lambda: (
            Payment.objects.filter(pk=payment.pk, status="retrying").exists()
            and first.output().count(f"[{payment.task_id}] received") == 2
        ),
        timeout=15,
        interval=0.02,
        message=f"the payment did not wait for a retry:\n{first.output()}",
    )
    first.kill()
    recovery = Recovery(payment)
    assert (payment.status, payment.attempts) == ("retrying", 1)
    new = start_worker(concurrency=1, **env)

    seconds = recovery.until_final(new)
    print(f"recovered in {seconds:.1f} s after the new worker started")
    assert seconds < RECOVERY_BUDGET
    # The sweeper publishes a retry only JOB_RETRY_GRACE (10 s) past its time;
    # from 5 s past it, the page says it is overdue.
    assert recovery.saw("retrying, overdue")
    # Attempt 2 failed too (the card fails twice) and the new worker retried it.
    assert_paid_once(payment, attempts=3, requests=3)
    assert outcomes(payment) == [(1, "retry"), (2, "retry"), (3, "succeeded")]
    assert swept(new, payment) == 1

    recovery.hand_out_the_killed_message(broker.url, new)
    assert_paid_once(payment, attempts=3, requests=3)


def test_worker_killed_mid_send_delivers_the_welcome_email_once(
    start_worker, sweeper, broker
):
    # The server holds each connection this long before its greeting: a worker
    # killed meanwhile is connected, and no message can have been accepted.
    with SMTPServer(delay=5) as smtp:
        first = start_worker(EMAIL_URL=smtp.url, concurrency=1)
        welcome = welcome_email_queued("kill@example.com")
        wait_until_sending(first, smtp, welcome)
        first.kill()
        recovery = Recovery(welcome)
        smtp.delay = 0
        assert smtp.messages == []
        new = start_worker(EMAIL_URL=smtp.url, concurrency=1)

        seconds = recovery.until_final(new)
        print(f"recovered in {seconds:.1f} s after the new worker started")
        assert seconds < RECOVERY_BUDGET
        welcome.refresh_from_db()
        assert welcome.status == "succeeded"
        assert welcome.attempts == 2
        assert outcomes(welcome) == [(1, "interrupted"), (2, "succeeded")]
        assert swept(new, welcome) == 1
        assert [m["To"] for m in smtp.messages] == ["kill@example.com"]

        recovery.hand_out_the_killed_message(broker.url, new)
        assert len(smtp.messages) == 1
        assert smtp.connections == 2
        new.kill()  # Before the SMTP server closes.


def test_worker_killed_mid_import_is_resumed_and_imports_each_order_once(
    user, start_worker, sweeper, broker
):
    # Small batches: many checkpoints, so the kill lands between two.
    first = start_worker(IMPORT_BATCH_ROWS="200", concurrency=1)
    order_import = import_started(user, 20_000)
    wait_until(
        lambda: OrderImport.objects.filter(
            pk=order_import.pk, status="running", rows_done__gte=2_000
        ).exists(),
        timeout=60,
        interval=0.01,
        message=f"the import did not get going:\n{first.output()}",
    )
    first.kill()
    recovery = Recovery(order_import)
    killed_at_row = OrderImport.objects.get(pk=order_import.pk).rows_done
    assert killed_at_row < 20_000, "the import ended before the kill"
    new = start_worker(IMPORT_BATCH_ROWS="200", concurrency=1)

    seconds = recovery.until_final(new)
    print(f"recovered in {seconds:.1f} s; the kill came after row {killed_at_row}")
    assert seconds < RECOVERY_BUDGET
    order_import.refresh_from_db()
    assert order_import.status == "succeeded", order_import.error_message
    assert outcomes(order_import) == [(1, "interrupted"), (2, "succeeded")]
    # Each order once, and the counts say what the database holds.
    assert Order.objects.filter(owner=user).count() == 10_000
    assert OrderLine.objects.filter(order__owner=user).count() == 20_000
    assert (order_import.orders_imported, order_import.orders_skipped) == (10_000, 0)
    assert order_import.rows_done == 20_000
    assert swept(new, order_import) == 1
