import contextlib

import pytest
from celery.exceptions import Retry
from django.core import mail
from django.utils import timezone

from apps.core.exceptions import RetryLater
from apps.notifications import services, tasks
from apps.notifications.models import OutgoingEmail
from tests.processes import free_port
from tests.smtp import SMTPServer

pytestmark = pytest.mark.django_db


def queue(user, key="welcome:1"):
    return services.email_queue(
        owner=user,
        template="welcome",
        context={"verify_url": "http://testserver/accounts/verify/t/"},
        idempotency_key=key,
    )


def deliver_when_due(email):
    """One attempt, run once its retry is due, as the retry message would."""
    OutgoingEmail.objects.filter(pk=email.pk, status="retrying").update(
        next_retry_at=timezone.now()
    )
    tasks.email_send(email.pk)


@pytest.fixture
def smtp_down(settings):
    """A real SMTP backend pointed at a port nothing listens on."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    settings.EMAIL_TIMEOUT = 1


def test_email_is_rendered_when_queued(user):
    email = queue(user)
    assert email.subject == "Welcome to Jobs Demo"
    assert email.to_address == user.email
    assert "http://testserver/accounts/verify/t/" in email.body_text
    assert email.body_html.lstrip().startswith("<!doctype html>")


def test_send_task_run_twice_sends_once(user):
    email = queue(user)
    tasks.email_send(email.pk)
    tasks.email_send(email.pk)
    email.refresh_from_db()
    assert email.status == "succeeded"
    assert email.attempts == 1
    assert email.sent_at is not None
    assert len(mail.outbox) == 1
    assert mail.outbox[0].extra_headers["X-Idempotency-Key"] == "welcome:1"


def test_send_task_for_a_deleted_email_does_nothing(user, caplog):
    email = queue(user)
    OutgoingEmail.objects.filter(pk=email.pk).delete()
    with caplog.at_level("INFO", logger="apps.core.job_task"):
        tasks.email_send(email.pk)
    assert f"OutgoingEmail {email.pk} is gone: nothing to do" in caplog.messages
    assert mail.outbox == []


def test_unreachable_mail_server_is_retried_later(user, smtp_down):
    email = queue(user)
    with pytest.raises(RetryLater) as raised:
        tasks.email_send(email.pk)
    email.refresh_from_db()
    assert email.status == "retrying"
    assert email.error_message == "mail server unreachable"
    assert 1 <= raised.value.countdown <= email.retry_backoff


def test_unreachable_mail_server_fails_the_email_after_the_last_attempt(
    user, smtp_down
):
    email = queue(user)
    for _ in range(email.max_attempts - 1):
        with pytest.raises(RetryLater):
            deliver_when_due(email)
    deliver_when_due(email)
    email.refresh_from_db()
    assert email.status == "failed"
    assert email.attempts == email.max_attempts
    assert email.error_message == "Gave up after 5 attempts (mail server unreachable)."


def test_send_task_turns_a_transient_failure_into_a_celery_retry(user, smtp_down):
    email = queue(user)
    with pytest.raises(Retry) as raised:
        tasks.email_send.delay(email.pk)
    email.refresh_from_db()
    assert email.status == "retrying"
    assert 1 <= raised.value.when <= email.retry_backoff


@pytest.mark.parametrize(
    ("answer", "status", "message"),
    [
        (
            b"554 5.7.1 rejected as spam",
            "failed",
            "The mail server refused the email (554).",
        ),
        (b"451 4.3.0 try again later", "retrying", "mail server busy"),
    ],
)
def test_smtp_refusals_fail_for_good_or_retry_by_their_code(
    user, settings, answer, status, message
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with SMTPServer(refuse_with=answer) as smtp:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp.port
        email = queue(user)
        with contextlib.suppress(RetryLater):  # The 451: a retry is planned.
            tasks.email_send(email.pk)
    email.refresh_from_db()
    assert (email.status, email.error_message) == (status, message)
    assert smtp.messages == []
