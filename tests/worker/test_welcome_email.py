"""Sign-up through a real Redis broker and a real `celery worker` process:
the web only enqueues; the worker creates the account and sends the email."""

import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.urls import reverse

from apps.accounts.models import SignupRequest, User
from apps.notifications import tasks
from apps.notifications.models import OutgoingEmail
from tests.processes import wait_until
from tests.worker.emails import sent_messages, welcome_email_queued

pytestmark = [pytest.mark.worker]


def sign_up(client, address, password):
    response = client.post(
        reverse("accounts:signup"),
        {"email": address, "password1": password, "password2": password},
    )
    assert response["Location"] == reverse("accounts:signup_done")


def test_sign_up_leads_to_one_account_and_one_welcome_email(
    client, celery_worker, password
):
    sign_up(client, "new@example.com", password)

    welcome = wait_until(
        lambda: OutgoingEmail.objects.filter(
            to_address="new@example.com", status="succeeded"
        ).first(),
        timeout=15,
        message=f"no welcome email within 15 s:\n{celery_worker.output()}",
    )
    assert welcome.template == "welcome"
    assert welcome.attempts == 1
    assert welcome.sent_at is not None
    assert User.objects.get(email="new@example.com").check_password(password)
    messages = sent_messages(celery_worker.mail_dir)
    assert [m["To"] for m in messages] == ["new@example.com"]
    assert messages[0]["Subject"] == "Welcome to Jobs Demo"
    # Only the sign-up's id went through the broker; its row, with the
    # password hash, is gone.
    assert not SignupRequest.objects.exists()

    # Its link, confirmed in this browser, finishes signing up.
    link = re.search(
        r"http://testserver(/accounts/signup/confirm/\S+/)", welcome.body_text
    )
    assert client.post(link[1])["Location"] == reverse("accounts:welcome")


def test_sign_up_with_a_taken_address_emails_its_owner_instead(
    client, celery_worker, password, user
):
    sign_up(client, user.email, "Some-other-passw0rd")

    notice = wait_until(
        lambda: OutgoingEmail.objects.filter(owner=user, status="succeeded").first(),
        timeout=15,
        message=f"the notice was not sent within 15 s:\n{celery_worker.output()}",
    )
    assert notice.template == "signup_attempt"
    messages = sent_messages(celery_worker.mail_dir)
    assert [m["Subject"] for m in messages] == [
        "Someone tried to sign up to Jobs Demo with your address"
    ]
    user.refresh_from_db()
    assert user.check_password(password)


def test_welcome_task_delivered_many_times_in_parallel_sends_once(celery_worker):
    welcome = welcome_email_queued("twice@example.com")
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
