"""How a real worker treats forged messages and shutdowns."""

import signal

import pytest

from apps.notifications import tasks
from apps.notifications.models import OutgoingEmail
from tests.brokers import use_broker
from tests.processes import wait_until
from tests.smtp import SMTPServer
from tests.worker.emails import welcome_email_queued

pytestmark = [pytest.mark.worker]


@pytest.fixture
def worker_with_smtp(start_worker):
    """A worker that delivers by SMTP to a local server answering after 3 s."""
    with SMTPServer(delay=3) as smtp:
        worker = start_worker(EMAIL_URL=smtp.url)
        worker.smtp = smtp
        yield worker
        # Before the SMTP server closes, without waiting for a delivery.
        worker.kill()


def test_warm_shutdown_finishes_the_running_email_and_exits_0(worker_with_smtp):
    welcome = welcome_email_queued("term@example.com")
    wait_until(
        lambda: OutgoingEmail.objects.filter(pk=welcome.pk, status="running").exists(),
        timeout=10,
        message="the worker did not start the email",
    )
    # SIGTERM while the SMTP server is still making the task wait.
    assert worker_with_smtp.stop(signal.SIGTERM, timeout=30) == 0

    welcome.refresh_from_db()
    assert welcome.status == "succeeded"
    assert [m["To"] for m in worker_with_smtp.smtp.messages] == ["term@example.com"]


def test_pickled_message_is_refused_and_changes_nothing(celery_worker, redis_server):
    with use_broker("memory://"):  # Sign up without publishing anything.
        welcome = welcome_email_queued("pickle@example.com")
    tasks.email_send.apply_async(args=[welcome.pk], serializer="pickle")

    wait_until(
        lambda: (
            "pickle" in celery_worker.output() and "Refusing" in celery_worker.output()
        ),
        timeout=10,
        message=f"the worker did not refuse the pickle:\n{celery_worker.output()}",
    )
    welcome.refresh_from_db()
    assert welcome.status == "queued"
    assert welcome.attempts == 0
