"""The shared job services (apps.core.services), on the test-only SampleJob."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.core import cancel, sweeper
from apps.core import services as jobs
from apps.core.exceptions import (
    AttemptsExhausted,
    JobCancelled,
    JobTakenOver,
    RetryLater,
)
from apps.core.models import Job, JobAttempt
from tests.jobkit import services as sample
from tests.jobkit.models import SampleJob
from tests.jobkit.runs import run_attempt

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(hours=2)


def test_enqueue_publishes_only_after_commit(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        job = sample.sample_job_start(owner=user)
        assert job.task_id
        assert job.status == Job.Status.QUEUED
    assert len(callbacks) == 1  # Nothing ran yet: it waits for the commit.


def test_rollback_publishes_nothing(user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                sample.sample_job_start(owner=user)
                raise RuntimeError("request failed after queueing")
        except RuntimeError:
            pass
    assert callbacks == []
    assert not SampleJob.objects.exists()


def test_job_is_claimed_by_one_attempt_only(make_job):
    job = make_job()
    assert jobs.job_start(job, task_id=job.task_id, worker="w1@host") is True
    again = SampleJob.objects.get(pk=job.pk)
    assert jobs.job_start(again, task_id="another-delivery") is False
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.RUNNING, 1)
    assert job.lease_expires_at > timezone.now()
    attempt = JobAttempt.objects.get()
    assert (attempt.number, attempt.worker, attempt.outcome) == (
        1,
        "w1@host",
        "running",
    )


def test_running_job_is_claimed_again_only_once_its_lease_lapsed(make_job):
    job = make_job()
    jobs.job_start(job, task_id=job.task_id)
    assert jobs.job_start(job, task_id=None) is False  # Alive: hands off.
    SampleJob.objects.filter(pk=job.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert jobs.job_start(job, task_id=None) is True
    assert job.attempts == 2
    first, second = JobAttempt.objects.order_by("number")
    assert first.outcome == "interrupted"
    assert first.error == "The worker running it stopped before it could finish."
    assert second.outcome == "running"


def test_job_whose_last_attempt_was_cut_off_at_the_cap_is_given_up(make_job):
    job = make_job()
    jobs.job_start(job, task_id=job.task_id)
    SampleJob.objects.filter(pk=job.pk).update(
        attempts=job.max_attempts, lease_expires_at=timezone.now() - LONG_AGO
    )
    with pytest.raises(AttemptsExhausted) as raised:
        jobs.job_start(job, task_id="redelivery")
    assert raised.value.message == (
        "Stopped after 3 attempts: the last one was cut off before it could finish."
    )
    job.refresh_from_db()
    assert job.attempts == job.max_attempts  # Not a fourth.


def test_transient_failure_records_the_attempt_and_raises_retry_later(make_job):
    job = make_job()
    jobs.job_start(job, task_id=job.task_id)
    with pytest.raises(RetryLater) as raised:
        jobs.job_retry_or_fail(job, reason="sample outage", detail="HTTP 503")
    job.refresh_from_db()
    assert 1 <= raised.value.countdown <= job.retry_backoff
    assert job.status == Job.Status.RETRYING
    assert job.next_retry_at > timezone.now()
    assert job.stage == "Attempt 1 of 3 failed"
    attempt = JobAttempt.objects.get()
    assert (attempt.outcome, attempt.error, attempt.error_detail) == (
        "retry",
        "sample outage",
        "HTTP 503",
    )
    assert attempt.retry_at == job.next_retry_at


def test_transient_failure_on_the_last_attempt_raises_attempts_exhausted(make_job):
    job = make_job()
    jobs.job_start(job, task_id=job.task_id)
    job.attempts = job.max_attempts
    with pytest.raises(AttemptsExhausted) as raised:
        jobs.job_retry_or_fail(job, reason="sample outage")
    assert raised.value.message == "Gave up after 3 attempts (sample outage)."


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 1, 2), (2, 2, 4), (3, 4, 8), (4, 8, 16), (9, 150, 300), (30, 150, 300)],
)
def test_retry_delay_doubles_with_jitter_up_to_its_cap(attempt, low, high):
    delays = {jobs.retry_delay(attempt, base=2, cap=300) for _ in range(200)}
    assert min(delays) >= low
    assert max(delays) <= high
    assert len(delays) > 1 or low == high


def test_progress_is_clamped_and_renews_the_lease(make_job):
    job = make_job()
    jobs.job_start(job, task_id=job.task_id)
    SampleJob.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now())
    jobs.job_progress(job, progress=140, stage="Almost")
    job.refresh_from_db()
    assert (job.progress, job.stage) == (100, "Almost")
    assert job.lease_expires_at > timezone.now() + timedelta(seconds=10)


def test_heartbeat_renews_the_lease_until_the_job_is_no_longer_ours(make_job):
    job = make_job()
    jobs.job_start(job, task_id=job.task_id)
    SampleJob.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now())
    assert jobs.job_heartbeat(job) is True
    assert SampleJob.objects.get(pk=job.pk).lease_expires_at > timezone.now()
    SampleJob.objects.filter(pk=job.pk).update(task_id="taken-over")
    assert jobs.job_heartbeat(job) is False


def test_progress_of_an_attempt_that_was_taken_over_raises(make_job):
    job = make_job()
    jobs.job_start(job, task_id=job.task_id)
    SampleJob.objects.filter(pk=job.pk).update(task_id="the-sweepers-new-message")
    with pytest.raises(JobTakenOver):
        jobs.job_progress(job, progress=50, stage="Half way")


def test_cancel_of_a_queued_job_ends_it_at_once_and_its_task_does_nothing(make_job):
    job = make_job()
    assert cancel.job_cancel(job) is True
    assert (job.status, job.stage) == ("cancelled", "Cancelled before it ran")
    run_attempt(job)  # Its message arrives later.
    assert (job.status, job.attempts, job.effects) == ("cancelled", 0, 0)


def test_cancel_of_a_running_job_stops_it_at_its_next_checkpoint(make_job):
    job = make_job()
    jobs.job_start(job, task_id=job.task_id)
    assert cancel.job_cancel(job) is True
    assert job.status == "running"  # Still running, asked to stop.
    assert job.can_cancel is False  # Asked once is enough.
    with pytest.raises(JobCancelled):
        jobs.job_progress(job, progress=50, stage="Half way")


def test_job_types_that_do_not_allow_cancel_refuse_it(make_job, monkeypatch):
    monkeypatch.setattr(SampleJob, "cancellable_statuses", ())
    job = make_job()
    assert job.can_cancel is False
    assert cancel.job_cancel(job) is False
    job.refresh_from_db()
    assert job.status == "queued"


def test_a_finished_job_cannot_be_cancelled(make_job):
    job = make_job()
    run_attempt(job)
    assert job.status == "succeeded"
    assert cancel.job_cancel(job) is False


def test_sweeper_republishes_stuck_jobs_and_leaves_the_rest(
    make_job, django_capture_on_commit_callbacks
):
    now = timezone.now()
    stuck_queued, stuck_running, stuck_retrying = make_job(), make_job(), make_job()
    fresh_running, fresh, done = make_job(), make_job(), make_job()
    SampleJob.objects.filter(pk=stuck_queued.pk).update(enqueued_at=now - LONG_AGO)
    SampleJob.objects.filter(pk=stuck_running.pk).update(
        status="running",
        attempts=1,
        enqueued_at=now - LONG_AGO,
        lease_expires_at=now - timedelta(seconds=1),
    )
    SampleJob.objects.filter(pk=fresh_running.pk).update(
        status="running",
        attempts=1,
        enqueued_at=now - LONG_AGO,
        lease_expires_at=now + timedelta(seconds=10),
    )
    SampleJob.objects.filter(pk=stuck_retrying.pk).update(
        status="retrying",
        attempts=1,
        next_retry_at=now - timedelta(seconds=30),
        enqueued_at=now - LONG_AGO,
    )
    SampleJob.objects.filter(pk=done.pk).update(
        status="succeeded", enqueued_at=now - LONG_AGO
    )
    old_task_ids = dict(SampleJob.objects.values_list("pk", "task_id"))

    with django_capture_on_commit_callbacks(execute=True):
        assert sweeper.jobs_sweep() == 3

    for job in (stuck_queued, stuck_running, stuck_retrying):
        job.refresh_from_db()
        assert job.status == "succeeded"  # Ran (eagerly) once swept.
        assert job.effects == 1
        assert job.task_id != old_task_ids[job.pk]
    for job in (fresh, fresh_running):
        job.refresh_from_db()
        assert job.task_id == old_task_ids[job.pk]


def test_sweeper_says_on_the_page_why_a_job_waits(
    make_job, django_capture_on_commit_callbacks
):
    job = make_job()
    jobs.job_start(job, task_id=job.task_id)
    SampleJob.objects.filter(pk=job.pk).update(
        enqueued_at=timezone.now() - LONG_AGO,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    job.refresh_from_db()
    assert job.worker_lost
    with django_capture_on_commit_callbacks(execute=False):
        assert sweeper.jobs_sweep() == 1
        assert sweeper.jobs_sweep() == 0  # Not again at the next sweep.
    job.refresh_from_db()
    assert job.stage == "The worker stopped answering; another one will take over."


def test_an_attempt_that_was_taken_over_cannot_end_the_job(make_job):
    job = make_job()
    jobs.job_start(job, task_id=job.task_id)
    # Its lease lapsed during a long pause; the sweeper's message took over.
    SampleJob.objects.filter(pk=job.pk).update(task_id="the-new-attempt")
    for end in (
        lambda: jobs.job_succeed(job),
        lambda: jobs.job_fail(job, message="late"),
        lambda: jobs.job_retry_or_fail(job, reason="late"),
    ):
        with pytest.raises(JobTakenOver):
            end()
    row = SampleJob.objects.get(pk=job.pk)
    assert (row.status, row.task_id, row.error_message) == (
        "running",
        "the-new-attempt",
        "",
    )


def test_sweeper_never_takes_a_job_a_worker_has_just_claimed(make_job):
    job = make_job()
    SampleJob.objects.filter(pk=job.pk).update(enqueued_at=timezone.now() - LONG_AGO)
    seen_by_the_sweeper = SampleJob.objects.get(pk=job.pk)
    jobs.job_start(job, task_id=job.task_id)  # A worker claims it meanwhile.
    assert jobs.job_republish(seen_by_the_sweeper, stage="x") is False
    row = SampleJob.objects.get(pk=job.pk)
    assert (row.status, row.task_id, row.stage) == ("running", job.task_id, "Started")


def test_sweeper_republishes_a_running_job_that_never_had_a_lease(
    make_job, django_capture_on_commit_callbacks
):
    job = make_job()
    SampleJob.objects.filter(pk=job.pk).update(  # A row from before leases.
        status="running",
        attempts=1,
        started_at=timezone.now() - LONG_AGO,
        enqueued_at=timezone.now() - LONG_AGO,
        lease_expires_at=None,
    )
    job.refresh_from_db()
    assert job.worker_lost
    with django_capture_on_commit_callbacks(execute=True):
        assert sweeper.jobs_sweep() == 1
    job.refresh_from_db()
    assert (job.status, job.attempts, job.effects) == ("succeeded", 2, 1)


def test_sweeper_republishes_an_overdue_retry_once_then_only_now_and_then(
    make_job, settings, django_capture_on_commit_callbacks
):
    job = make_job()
    now = timezone.now()
    SampleJob.objects.filter(pk=job.pk).update(
        status="retrying",
        attempts=1,
        next_retry_at=now - timedelta(seconds=300),
        enqueued_at=now - timedelta(seconds=400),
    )
    with django_capture_on_commit_callbacks(execute=False) as published:
        assert sweeper.jobs_sweep() == 1
        # No worker took it. Later sweeps, past the retry grace again, leave
        # it alone until the queued lease has passed since that publish.
        SampleJob.objects.filter(pk=job.pk).update(
            enqueued_at=now - timedelta(seconds=settings.JOB_QUEUED_LEASE - 5)
        )
        assert sweeper.jobs_sweep() == 0
        SampleJob.objects.filter(pk=job.pk).update(
            enqueued_at=now - timedelta(seconds=settings.JOB_QUEUED_LEASE + 5)
        )
        assert sweeper.jobs_sweep() == 1
    assert len(published) == 2


def test_a_cancel_request_does_not_stop_the_heartbeat(make_job):
    job = make_job()
    jobs.job_start(job, task_id=job.task_id)
    cancel.job_cancel(job)
    assert jobs.job_heartbeat(job) is True  # Alive until its next checkpoint.


def test_a_job_cancelled_while_its_last_worker_died_ends_cancelled_not_failed(
    make_job,
):
    job = make_job()
    jobs.job_start(job, task_id=job.task_id)
    cancel.job_cancel(job)
    SampleJob.objects.filter(pk=job.pk).update(
        attempts=job.max_attempts, lease_expires_at=timezone.now() - LONG_AGO
    )
    run_attempt(job)
    assert (job.status, job.attempts) == ("cancelled", job.max_attempts)


def test_sweeper_never_takes_a_job_its_redelivered_message_just_claimed(make_job):
    job = make_job()
    jobs.job_start(job, task_id=job.task_id)
    SampleJob.objects.filter(pk=job.pk).update(
        enqueued_at=timezone.now() - LONG_AGO,
        lease_expires_at=timezone.now() - timedelta(seconds=1),
    )
    seen_by_the_sweeper = SampleJob.objects.get(pk=job.pk)
    # The same message, given back by the broker, claims it meanwhile.
    assert jobs.job_start(job, task_id=job.task_id, redelivered=True) is True
    assert jobs.job_republish(seen_by_the_sweeper, stage="x") is False
    assert SampleJob.objects.get(pk=job.pk).task_id == job.task_id


def test_sweeper_republishes_stuck_rows_that_were_never_enqueued_by_the_kit(
    make_job, django_capture_on_commit_callbacks
):
    retrying, running = make_job(), make_job()
    long_ago = timezone.now() - LONG_AGO
    SampleJob.objects.filter(pk=retrying.pk).update(
        status="retrying", attempts=1, next_retry_at=long_ago, enqueued_at=None
    )
    SampleJob.objects.filter(pk=running.pk).update(
        status="running",
        attempts=1,
        heartbeat_at=long_ago,
        lease_expires_at=long_ago,
        enqueued_at=None,
    )
    with django_capture_on_commit_callbacks(execute=False):
        assert sweeper.jobs_sweep() == 2
