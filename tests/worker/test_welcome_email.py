"""Sign-up through a real Redis broker and a real `celery worker` process."""

import email
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.urls import reverse

from apps.notifications import tasks
from apps.notifications.models import OutgoingEmail
from tests.processes import wait_until

pytestmark = [pytest.mark.worker]


def sent_messages(mail_dir):
    return [
        email.message_from_string(line_block)
        for path in sorted(mail_dir.iterdir())
        for line_block in path.read_text().split("-" * 79 + "\n")
        if line_block.strip()
    ]


def test_signup_leads_to_exactly_one_welcome_email(client, celery_worker, password):
    response = client.post(
        reverse("accounts:signup"),
        {"email": "new@example.com", "password1": password, "password2": password},
    )
    assert response.status_code == 302

    welcome = wait_until(
        lambda: OutgoingEmail.objects.filter(
            to_address="new@example.com", status="succeeded"
        ).first(),
        timeout=15,
        message="the welcome email was not sent within 15 s",
    )
    assert welcome.template == "welcome"
    assert welcome.attempts == 1
    assert welcome.sent_at is not None
    messages = sent_messages(celery_worker.mail_dir)
    assert [m["To"] for m in messages] == ["new@example.com"]
    assert messages[0]["Subject"] == "Welcome to Jobs Demo"


def test_welcome_task_delivered_many_times_in_parallel_sends_once(
    client, celery_worker, password
):
    client.post(
        reverse("accounts:signup"),
        {"email": "twice@example.com", "password1": password, "password2": password},
    )
    welcome = OutgoingEmail.objects.get(to_address="twice@example.com")
    # The same message published again, several times at once, as a broker
    # redelivery or the sweeper would.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda _: tasks.email_send.delay(welcome.pk), range(4)))

    wait_until(
        lambda: OutgoingEmail.objects.filter(
            pk=welcome.pk, status="succeeded"
        ).exists(),
        timeout=15,
    )
    # Let every duplicate be consumed before counting.
    wait_until(
        lambda: celery_worker.output().count("email_send[") >= 2 * 5,
        timeout=15,
        message="not every duplicate was consumed",
    )
    assert len(sent_messages(celery_worker.mail_dir)) == 1
    welcome.refresh_from_db()
    assert welcome.attempts == 1
