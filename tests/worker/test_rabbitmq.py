"""
The worker guarantees of RELIABILITY.md on RabbitMQ (the machine's server,
in a virtual host of their own): a worker killed mid-task, the same message
delivered several times, and the broker dropping every connection.

What differs from Redis: RabbitMQ hands a killed worker's unacknowledged
message to another consumer as soon as the connection drops (Redis waits for
the visibility timeout, an hour, and the sweeper recovers the job first), so
the job comes back without the sweeper. Queues are durable and messages
persistent, so what waits in them outlives the broker's restart.
"""

import time

import pytest

from apps.notifications import tasks
from apps.notifications.models import OutgoingEmail
from tests.brokers import RabbitMQVhost, rabbitmq_reachable, use_broker
from tests.processes import wait_until
from tests.smtp import SMTPServer
from tests.worker.emails import (
    sent_messages,
    wait_until_sending,
    welcome_email_queued,
)

pytestmark = [
    pytest.mark.worker,
    pytest.mark.skipif(not rabbitmq_reachable(), reason="RabbitMQ is not running"),
]


@pytest.fixture(scope="module")
def rabbitmq():
    vhost = RabbitMQVhost().create()
    yield vhost
    vhost.delete()


@pytest.fixture
def on_rabbitmq(rabbitmq, broker, transactional_db):
    """This process publishes to the RabbitMQ virtual host (set up after the
    Redis `broker` that start_worker brings, so that this one wins)."""
    with use_broker(rabbitmq.url):
        yield rabbitmq


def test_a_killed_workers_task_comes_back_at_once_and_runs_once(
    on_rabbitmq, start_worker
):
    # The server holds each connection before its greeting: the worker is
    # killed while connected, before any message could be accepted.
    with SMTPServer(delay=5) as smtp:
        first = start_worker(
            broker_url=on_rabbitmq.url, EMAIL_URL=smtp.url, concurrency=1
        )
        welcome = welcome_email_queued("rabbit-kill@example.com")
        wait_until_sending(first, smtp, welcome)
        first.kill()
        smtp.delay = 0
        started = time.monotonic()
        # No beat, no sweeper: the broker itself gives the message back.
        new = start_worker(
            broker_url=on_rabbitmq.url, EMAIL_URL=smtp.url, concurrency=1
        )
        wait_until(
            lambda: OutgoingEmail.objects.filter(
                pk=welcome.pk, status="succeeded"
            ).exists(),
            timeout=30,
            message=f"not sent after the kill:\n{new.output()}",
        )
        seconds = time.monotonic() - started
        print(f"RabbitMQ: sent {seconds:.1f} s after the new worker started")
        welcome.refresh_from_db()
        assert welcome.attempts == 2
        assert [m["To"] for m in smtp.messages] == ["rabbit-kill@example.com"]
        new.kill()


def test_the_same_message_delivered_many_times_sends_once(on_rabbitmq, start_worker):
    worker = start_worker(broker_url=on_rabbitmq.url)
    welcome = welcome_email_queued("rabbit-twice@example.com")
    for _ in range(3):  # As a redelivery or the sweeper would, with its id.
        tasks.email_send.apply_async((welcome.pk,), task_id=welcome.task_id)
    wait_until(
        lambda: OutgoingEmail.objects.filter(
            pk=welcome.pk, status="succeeded"
        ).exists(),
        timeout=15,
        message=f"not sent:\n{worker.output()}",
    )
    time.sleep(1)  # Let the duplicates arrive and find it sent.
    welcome.refresh_from_db()
    assert welcome.attempts == 1
    messages = sent_messages(worker.mail_dir)
    assert [m["To"] for m in messages] == ["rabbit-twice@example.com"]


def test_waiting_messages_outlive_a_broker_restart_and_run_once(
    on_rabbitmq, start_worker
):
    emails = [welcome_email_queued(f"rabbit-wait{n}@example.com") for n in range(3)]
    # Durable queues, persistent messages: kept on disk across a restart.
    durable, ready = on_rabbitmq.queues()["quick"]
    assert durable and ready == 3
    on_rabbitmq.drop_connections()

    worker = start_worker(broker_url=on_rabbitmq.url)
    wait_until(
        lambda: (
            OutgoingEmail.objects.filter(
                pk__in=[e.pk for e in emails], status="succeeded"
            ).count()
            == 3
        ),
        timeout=20,
        message=f"not every email ran:\n{worker.output()}",
    )
    # The worker's own connection dropped too: it reconnects and goes on.
    on_rabbitmq.drop_connections()
    late = welcome_email_queued("rabbit-late@example.com")
    wait_until(
        lambda: OutgoingEmail.objects.filter(pk=late.pk, status="succeeded").exists(),
        timeout=30,
        message=f"the worker did not come back:\n{worker.output()}",
    )
    assert sorted(m["To"] for m in sent_messages(worker.mail_dir)) == [
        "rabbit-late@example.com",
        "rabbit-wait0@example.com",
        "rabbit-wait1@example.com",
        "rabbit-wait2@example.com",
    ]
