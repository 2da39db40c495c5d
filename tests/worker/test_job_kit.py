"""
The job task base (apps.core.job_task) in a real worker, on the test-only
SampleJob: how an attempt ends when its work raises, outlives its soft time
limit, is cancelled, runs one long step, or kills its pool process every time.
"""

import os
import signal
import time
from uuid import uuid4

import pytest
from django.utils import timezone

from apps.core import cancel, selectors, sweeper
from apps.core.job_task import TIMED_OUT, UNEXPECTED_FAILURE
from tests.jobkit import tasks
from tests.jobkit.models import SampleJob
from tests.jobkit.services import sample_job_start
from tests.processes import CeleryWorker, wait_until

pytestmark = [pytest.mark.worker]


def wait_until_final(job: SampleJob, worker: CeleryWorker, *, timeout: float) -> float:
    """Seconds from now until the job is final; fails after `timeout`."""
    started = time.monotonic()
    wait_until(
        lambda: SampleJob.objects.filter(
            pk=job.pk, status__in=SampleJob.FINAL_STATUSES
        ).exists(),
        timeout=timeout,
        interval=0.02,
        message=f"{job} not final within {timeout} s:\n{worker.output()}",
    )
    job.refresh_from_db()
    return time.monotonic() - started


def outcomes(job: SampleJob) -> list[str]:
    return [attempt.outcome for attempt in selectors.job_attempts(job)]


def test_a_job_that_raises_fails_at_once_with_a_message_and_one_traceback(
    user, celery_worker
):
    job = sample_job_start(owner=user, plan="raise")

    seconds = wait_until_final(job, celery_worker, timeout=10)
    print(f"\nfailed {seconds:.2f} s after it was published")
    assert seconds < 5  # By the task itself: no sweeper runs here.
    assert job.status == "failed"
    assert job.error_message == UNEXPECTED_FAILURE
    assert job.attempts == 1
    log = celery_worker.output()
    assert (
        log.count(f"SampleJob {job.pk} (task {job.task_id}) failed unexpectedly") == 1
    )
    assert log.count("Traceback (most recent call last)") == 1
    assert "ValueError: a bug in the sample job" in log
    [attempt] = selectors.job_attempts(job)
    assert attempt.outcome == "failed"
    assert attempt.error == UNEXPECTED_FAILURE
    assert "ValueError" in attempt.error_detail
    assert "ValueError" not in job.error_message  # Staff detail, not for the user.


def test_a_job_past_its_soft_time_limit_fails_saying_it_took_too_long(
    user, celery_worker
):
    job = sample_job_start(owner=user, plan="slow")  # Sleeps 5 s; soft limit 4 s.

    seconds = wait_until_final(job, celery_worker, timeout=10)
    print(f"\nfailed {seconds:.2f} s after it was published (soft limit 4 s)")
    assert 4 <= seconds < SampleJob.time_limit
    assert job.status == "failed"
    assert job.error_message == TIMED_OUT.format(limit=4)
    log = celery_worker.output()
    # Celery's own soft limit, not one the sample raised.
    task = f"tests.jobkit.tasks.sample_job_run[{job.task_id}]"
    assert f"Soft time limit (4s) exceeded for {task}" in log
    assert f"SampleJob {job.pk} (task {job.task_id}) hit its soft time limit" in log
    [attempt] = selectors.job_attempts(job)
    assert (attempt.outcome, attempt.error_detail) == (
        "failed",
        "SoftTimeLimitExceeded",
    )


def test_a_running_job_cancelled_stops_at_its_next_checkpoint(user, celery_worker):
    job = sample_job_start(owner=user, steps=20, step_seconds=0.3)
    wait_until(
        lambda: SampleJob.objects.filter(pk=job.pk, progress__gt=0).exists(),
        timeout=10,
        interval=0.02,
        message=f"the job made no progress:\n{celery_worker.output()}",
    )

    assert cancel.job_cancel(job)
    seconds = wait_until_final(job, celery_worker, timeout=5)
    print(f"\ncancelled {seconds:.2f} s after the request (steps of 0.3 s)")
    assert seconds < 2
    assert job.status == "cancelled"
    assert job.stage.startswith("Cancelled at ")
    assert job.effects == 0
    assert job.attempts == 1
    assert outcomes(job) == ["cancelled"]


def test_a_step_longer_than_the_lease_is_kept_alive_by_the_heartbeat(
    user, celery_worker
):
    """One step without progress outlives the lease (15 s): only the heartbeat
    (every JOB_HEARTBEAT_INTERVAL, 5 s) renews it, and the job is never taken
    for dead: the lease never lapses and the sweeper finds nothing."""
    step = SampleJob.lease_seconds + 1
    job = SampleJob.objects.create(
        owner=user,
        steps=1,
        step_seconds=step,
        task_id=str(uuid4()),
        enqueued_at=timezone.now(),
    )
    # SampleJob's own time limits (4 s and 6 s) are shorter than a lease; this
    # message carries longer ones, as a job type with a long step would.
    tasks.sample_job_run.apply_async(
        args=[job.pk],
        task_id=job.task_id,
        soft_time_limit=step + 5,
        time_limit=step + 8,
    )

    leases = []  # Each lease the running step held, before its progress update.
    deadline = time.monotonic() + step + 10
    while not (row := SampleJob.objects.get(pk=job.pk)).is_final:
        assert time.monotonic() < deadline, celery_worker.output()
        if row.status == "running":
            assert row.lease_expires_at > timezone.now()
            if row.progress == 0 and row.lease_expires_at not in leases:
                leases.append(row.lease_expires_at)
            assert sweeper.jobs_sweep() == 0
        time.sleep(0.2)

    job.refresh_from_db()
    renewals = [
        round((later - earlier).total_seconds(), 1)
        for earlier, later in zip(leases, leases[1:], strict=False)
    ]
    print(f"\nlease renewed {len(renewals)} times during a {step} s step: {renewals}")
    # Claimed, then renewed at about 5 s and 10 s and 15 s: no progress meanwhile.
    assert len(renewals) >= 2
    assert all(4 <= gap <= 6 for gap in renewals)
    assert job.status == "succeeded"
    assert job.effects == 1
    assert job.attempts == 1
    assert outcomes(job) == ["succeeded"]


def test_a_job_whose_pool_process_is_killed_every_time_fails_after_the_cap(
    user, start_worker
):
    """Each attempt's pool process is SIGKILLed, as an OOM kill would: the
    message comes back at once (reject_on_worker_lost), each time as a new
    attempt, until the cap (3) ends the job failed instead of looping.

    "At once" is when the main process notices the dead child: at once or,
    for a child that dies just after it took the job, at billiard's next pool
    maintenance, about 5 s later.
    """
    worker = start_worker(concurrency=1)
    job = sample_job_start(owner=user, steps=5, step_seconds=0.5)
    started = time.monotonic()
    killed = set()
    taken_over = []  # Seconds from each kill to the next attempt's start.
    for attempt in range(1, SampleJob.max_attempts + 1):
        kill_at = time.monotonic()
        wait_until(
            lambda attempt=attempt: SampleJob.objects.filter(
                pk=job.pk, status="running", attempts=attempt
            ).exists(),
            timeout=15,
            interval=0.02,
            message=f"attempt {attempt} did not start:\n{worker.output()}",
        )
        taken_over.append(round(time.monotonic() - kill_at, 2))
        [child] = set(worker.pool_children()) - killed
        os.kill(child, signal.SIGKILL)
        killed.add(child)

    wait_until_final(job, worker, timeout=15)
    seconds = time.monotonic() - started
    print(
        f"\n{len(killed)} pool processes killed, attempts 2 and 3 started "
        f"{taken_over[1:]} s after the kill, failed {seconds:.1f} s after publish"
    )
    assert job.status == "failed"
    assert job.error_message.startswith("Stopped after 3 attempts")
    assert job.effects == 0
    assert outcomes(job) == ["interrupted"] * 3
    assert worker.output().count("exited with 'signal 9 (SIGKILL)'") == 3
    assert worker.process.poll() is None  # The main process lived on.
