"""A password reset through a real Redis broker and a real worker: the web
request only enqueues; the worker looks the address up and sends the email."""

import pytest
from django.urls import reverse

from apps.notifications.models import OutgoingEmail
from tests.processes import wait_until
from tests.worker.emails import sent_messages

pytestmark = [pytest.mark.worker]


def test_reset_asked_twice_for_an_account_sends_two_links_and_none_for_a_stranger(
    client, celery_worker, user
):
    for address in (user.email, "stranger@example.com", user.email.upper()):
        response = client.post(reverse("accounts:password_reset"), {"email": address})
        assert response["Location"] == reverse("accounts:password_reset_done")

    emails = OutgoingEmail.objects.filter(template="password_reset")
    wait_until(
        lambda: emails.filter(status="succeeded").count() == 2,
        timeout=15,
        message=f"the reset emails were not sent:\n{celery_worker.output()}",
    )
    assert set(emails.values_list("to_address", flat=True)) == {user.email}
    assert [m["To"] for m in sent_messages(celery_worker.mail_dir)] == [user.email] * 2
    assert celery_worker.output().count("password_reset_send[") >= 3 * 2
