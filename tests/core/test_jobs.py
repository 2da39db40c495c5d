"""The shared job mechanism, shown on OutgoingEmail, the first concrete Job."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.core import services as jobs
from apps.core.models import Job
from apps.notifications import services as mail
from apps.notifications.models import OutgoingEmail

pytestmark = pytest.mark.django_db


def queue_email(user, key="k1"):
    return mail.email_queue(
        owner=user, template="welcome", context={"verify_url": "x"}, idempotency_key=key
    )


def test_enqueue_publishes_only_after_commit(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        email = queue_email(user)
        assert email.task_id
        assert email.status == Job.Status.QUEUED
    assert len(callbacks) == 1  # Nothing ran yet: it waits for the commit.


def test_rollback_publishes_nothing(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                queue_email(user)
                raise RuntimeError("request failed after queueing")
        except RuntimeError:
            pass
    assert callbacks == []
    assert not OutgoingEmail.objects.exists()


def test_job_is_claimed_by_one_attempt_only(user):
    email = queue_email(user)
    assert jobs.job_start(email) is True
    assert jobs.job_start(OutgoingEmail.objects.get(pk=email.pk)) is False
    email.refresh_from_db()
    assert (email.status, email.attempts) == (Job.Status.RUNNING, 1)


def test_running_job_past_its_lease_can_be_claimed_again(user):
    email = queue_email(user)
    jobs.job_start(email)
    OutgoingEmail.objects.filter(pk=email.pk).update(
        started_at=timezone.now() - timedelta(hours=1)
    )
    assert jobs.job_start(email) is True
    assert email.attempts == 2


def test_job_whose_attempts_all_died_ends_failed(user):
    email = queue_email(user)
    OutgoingEmail.objects.filter(pk=email.pk).update(attempts=email.max_attempts)
    assert jobs.job_start(email) is False
    email.refresh_from_db()
    assert email.status == Job.Status.FAILED
    assert "Stopped after 5 attempts" in email.error_message


def test_transient_failure_schedules_a_retry(user):
    email = queue_email(user)
    jobs.job_start(email)
    delay = jobs.job_retry_or_fail(email, reason="mail server unreachable")
    email.refresh_from_db()
    assert 1 <= delay <= email.retry_backoff
    assert email.status == Job.Status.RETRYING
    assert email.next_retry_at > timezone.now()
    assert email.stage == "Attempt 1 of 5 failed"


def test_transient_failure_on_last_attempt_fails_the_job(user):
    email = queue_email(user)
    jobs.job_start(email)
    email.attempts = email.max_attempts
    assert jobs.job_retry_or_fail(email, reason="mail server unreachable") is None
    email.refresh_from_db()
    assert email.status == Job.Status.FAILED
    assert email.error_message == "Gave up after 5 attempts (mail server unreachable)."


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 1, 2), (2, 2, 4), (3, 4, 8), (4, 8, 16), (9, 150, 300), (30, 150, 300)],
)
def test_retry_delay_doubles_with_jitter_up_to_its_cap(attempt, low, high):
    delays = {jobs.retry_delay(attempt, base=2, cap=300) for _ in range(200)}
    assert min(delays) >= low
    assert max(delays) <= high
    assert len(delays) > 1 or low == high


def test_progress_is_clamped_to_0_100(user):
    email = queue_email(user)
    jobs.job_progress(email, progress=140, stage="Almost")
    email.refresh_from_db()
    assert (email.progress, email.stage) == (100, "Almost")


def test_sweeper_republishes_stuck_jobs_and_leaves_the_rest(
    user, settings, django_capture_on_commit_callbacks
):
    long_ago = timezone.now() - timedelta(hours=2)
    stuck_queued = queue_email(user, "a")
    stuck_running = queue_email(user, "b")
    stuck_retrying = queue_email(user, "c")
    fresh = queue_email(user, "d")
    done = queue_email(user, "e")
    OutgoingEmail.objects.filter(pk=stuck_queued.pk).update(enqueued_at=long_ago)
    OutgoingEmail.objects.filter(pk=stuck_running.pk).update(
        status=Job.Status.RUNNING, started_at=long_ago, attempts=1, enqueued_at=long_ago
    )
    OutgoingEmail.objects.filter(pk=stuck_retrying.pk).update(
        status=Job.Status.RETRYING,
        next_retry_at=long_ago,
        attempts=1,
        enqueued_at=long_ago,
    )
    OutgoingEmail.objects.filter(pk=done.pk).update(
        status=Job.Status.SUCCEEDED, enqueued_at=long_ago
    )
    old_task_ids = dict(OutgoingEmail.objects.values_list("pk", "task_id"))

    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.jobs_sweep() == 3

    for email in (stuck_queued, stuck_running, stuck_retrying):
        email.refresh_from_db()
        assert email.status == Job.Status.SUCCEEDED  # Ran (eagerly) once swept.
        assert email.task_id != old_task_ids[email.pk]
    fresh.refresh_from_db()
    assert fresh.status == Job.Status.QUEUED
    assert fresh.task_id == old_task_ids[fresh.pk]
