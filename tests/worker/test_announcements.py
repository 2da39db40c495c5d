"""Bulk mail never starves transactional mail: a real worker, on a real Redis,
sends an announcement to 10,000 people (bulk queue, rate-limited task) and a
welcome email queued in the middle of it still goes out within seconds."""

import time

import pytest
from django.contrib.auth.hashers import make_password

from apps.accounts.models import User
from apps.core.models import Job
from apps.notifications import announcements
from apps.notifications.models import Announcement, Notification, OutgoingEmail
from tests.factories import UserFactory
from tests.processes import wait_until
from tests.worker.emails import welcome_email_queued

pytestmark = [pytest.mark.worker]

PEOPLE = 10_000


def sent_announcements() -> int:
    return OutgoingEmail.objects.filter(
        template="announcement", status="succeeded"
    ).count()


def test_a_welcome_email_is_delivered_within_seconds_during_a_10000_user_announcement(
    start_worker, capsys
):
    staff = UserFactory(is_staff=True)
    hashed = make_password(None)
    User.objects.bulk_create(
        User(email=f"person{number}@example.com", password=hashed)
        for number in range(PEOPLE - 1)
    )
    worker = start_worker(EMAIL_BULK_RATE_LIMIT="50/s")

    announcement = announcements.announcement_create(
        owner=staff,
        subject="New: PDF reports",
        body="Request one from the Reports page.",
        audience=Announcement.Audience.EVERYONE,
    )
    wait_until(
        lambda: sent_announcements() >= 50,
        timeout=120,
        message=f"the announcement's emails did not start:\n{worker.output()}",
    )

    started = time.monotonic()
    welcome = welcome_email_queued("late-comer@example.com")
    wait_until(
        lambda: OutgoingEmail.objects.filter(
            pk=welcome.pk, status="succeeded"
        ).exists(),
        timeout=60,
        message=f"the welcome email waited over 60 s:\n{worker.output()}",
    )
    waited = time.monotonic() - started
    bulk_sent = sent_announcements()
    with capsys.disabled():
        print(
            f"\nwelcome email delivered {waited:.2f} s after it was queued, "
            f"while the announcement had sent {bulk_sent:,} of {PEOPLE:,} emails"
        )

    # It did not wait for the announcement: most of it is still to go.
    assert bulk_sent < PEOPLE / 2
    assert waited < 15
    announcement.refresh_from_db()
    assert announcement.status == "succeeded"  # Handed to its chunks.
    assert announcement.recipients == PEOPLE
    # Each chunk commits its notifications with its end; the last chunks may
    # still be running (the emails they queue go out at the bulk rate later).
    wait_until(
        lambda: not announcement.parts.exclude(status__in=Job.FINAL_STATUSES).exists(),
        timeout=60,
        message=f"the announcement's chunks did not end:\n{worker.output()}",
    )
    assert Notification.objects.filter(kind="announcement").count() == PEOPLE
