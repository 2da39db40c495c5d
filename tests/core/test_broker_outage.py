"""Redis is down when the web publishes: the page answers, the job waits."""

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from apps.core import services as jobs
from apps.core import sweeper
from apps.notifications.models import OutgoingEmail
from tests.brokers import use_broker
from tests.processes import free_port
from tests.worker.emails import welcome_email_queued


@pytest.fixture
def broker_down():
    # A port nothing listens on: every publish fails with a connection error.
    with use_broker(f"redis://127.0.0.1:{free_port()}/0"):
        yield


@pytest.mark.django_db
def test_a_welcome_email_queued_while_the_broker_is_down_waits_for_it(
    client, password, broker_down, django_capture_on_commit_callbacks
):
    # The sign-up task ran; the broker went away before the email's own task
    # could be published.
    with django_capture_on_commit_callbacks(execute=True):
        email = welcome_email_queued("down@example.com")
    email.refresh_from_db()
    assert email.status == "queued"
    assert email.stage == jobs.WAITING_FOR_BROKER

    # Its owner, having followed its link, is on the welcome page.
    email.owner.is_active = True
    email.owner.save()
    client.force_login(email.owner)
    page = client.get(reverse("accounts:welcome"))
    assert jobs.WAITING_FOR_BROKER in page.content.decode()


@pytest.mark.django_db
def test_sweeper_sends_the_queued_email_once_the_broker_is_back(
    user, django_capture_on_commit_callbacks
):
    email = OutgoingEmail.objects.create(
        owner=user,
        template="welcome",
        to_address=user.email,
        from_address="a@example.com",
        subject="Hi",
        body_text="Hi",
        idempotency_key="k",
        stage=jobs.WAITING_FOR_BROKER,
        enqueued_at=timezone.now() - timedelta(minutes=5),
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert sweeper.jobs_sweep() == 1
        assert sweeper.jobs_sweep() == 0  # Nothing stuck any more.
    email.refresh_from_db()
    assert email.status == "succeeded"
    assert len(mail.outbox) == 1
