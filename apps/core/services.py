"""
State changes of every Job (apps.core.models.Job). Each app's services call
these instead of writing job fields themselves.
"""

import logging
import random
from collections.abc import Callable
from datetime import timedelta
from uuid import uuid4

from celery import current_task
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import KombuError

from apps.core import selectors
from apps.core.models import Job

logger = logging.getLogger(__name__)

WAITING_FOR_BROKER = "Waiting for the job queue; it will start automatically."
# A retry message may arrive a moment before the next_retry_at stored for it.
RETRY_CLOCK_SLACK = timedelta(seconds=1)


def job_enqueue(job: Job) -> None:
    """Give the job a fresh task id and publish its task once the transaction commits.

    Publishing after commit means the worker never looks for a row that is not
    there yet, and a rolled-back request publishes nothing.
    """
    job.task_id = str(uuid4())
    job.enqueued_at = timezone.now()
    job.save(update_fields=["task_id", "enqueued_at"])
    model, job_id, task_id = type(job), job.pk, job.task_id
    transaction.on_commit(lambda: _publish(model, job_id, task_id))


def job_requeue(job: Job, *, stage: str) -> None:
    """Start a finished job again from its first attempt (a staff retry)."""
    job.status = Job.Status.QUEUED
    job.attempts = 0
    job.progress = 0
    job.stage = stage
    job.error_message = ""
    job.next_retry_at = job.started_at = job.finished_at = None
    job.save(
        update_fields=[
            "status",
            "attempts",
            "progress",
            "stage",
            "error_message",
            "next_retry_at",
            "started_at",
            "finished_at",
        ]
    )
    job_enqueue(job)


def _publish(model: type[Job], job_id: int, task_id: str) -> None:
    task = selectors.job_task(model)
    try:
        task.apply_async(args=[job_id], task_id=task_id)
    except (KombuError, OSError):
        # The request must still succeed: the row stays queued and the sweeper
        # publishes it again once the broker is back.
        logger.warning("Broker unavailable: %s %s stays queued", model.__name__, job_id)
        model.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
            stage=WAITING_FOR_BROKER
        )


def job_start(job: Job, *, on_give_up: Callable[[str], None] | None = None) -> bool:
    """Claim the job for this attempt; False if it is not ours to run.

    Claimable: a queued job; a retrying job once its retry is due, or by its
    own retry message; a job running longer than its task may live (its worker
    died); or a running job whose own message comes back marked redelivered,
    which the broker does only once the delivery holding it has died (a pool
    child was killed and acks_late + reject_on_worker_lost gave it back).
    The claim is one conditional UPDATE, so two deliveries cannot both win it.

    A job past its attempt cap is given up instead: `on_give_up(message=...)` must
    end it failed (the default, job_fail, does just that).
    """
    now = timezone.now()
    model = type(job)
    request = current_task.request if current_task else None
    task_id = request.id if request else None
    redelivered = bool(request and (request.delivery_info or {}).get("redelivered"))
    claimable = (
        Q(status=Job.Status.QUEUED)
        | Q(status=Job.Status.RETRYING, next_retry_at__lte=now + RETRY_CLOCK_SLACK)
        | Q(
            status=Job.Status.RUNNING,
            started_at__lt=now - selectors.job_running_lease(model),
        )
    )
    if task_id:
        claimable |= Q(status=Job.Status.RETRYING, task_id=task_id)
        if redelivered:
            claimable |= Q(status=Job.Status.RUNNING, task_id=task_id)
    claimed = model.objects.filter(claimable, pk=job.pk).update(
        status=Job.Status.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
        next_retry_at=None,
        stage="Started",
        # Whoever claims the row owns it: a duplicate message with another
        # id finds it running and leaves it alone.
        task_id=task_id or F("task_id"),
    )
    if not claimed:
        return False
    job.refresh_from_db()
    if job.attempts > job.max_attempts:
        # Every earlier attempt ended without finishing (its worker was killed
        # or crashed): stop before it loops forever.
        message = (
            f"Stopped after {job.max_attempts} attempts: each one was interrupted "
            "before it could finish."
        )
        if on_give_up:
            on_give_up(message=message)
        else:
            job_fail(job, message=message)
        return False
    return True


def job_progress(job: Job, *, progress: int, stage: str) -> None:
    job.progress = max(0, min(100, progress))
    job.stage = stage[:200]
    job.save(update_fields=["progress", "stage"])


def job_succeed(job: Job, *, stage: str = "Done", **fields) -> None:
    """Mark the job done, saving any of its own fields passed along."""
    for name, value in fields.items():
        setattr(job, name, value)
    job.status = Job.Status.SUCCEEDED
    job.progress = 100
    job.stage = stage
    job.error_message = ""
    job.finished_at = timezone.now()
    job.save(
        update_fields=[
            "status",
            "progress",
            "stage",
            "error_message",
            "finished_at",
            *fields,
        ]
    )


def job_fail(job: Job, *, message: str) -> None:
    """End the job for good, with a message the user can act on."""
    job.status = Job.Status.FAILED
    job.error_message = message[:500]
    job.stage = ""  # The badge says failed; the message says why.
    job.next_retry_at = None
    job.finished_at = timezone.now()
    job.save(
        update_fields=[
            "status",
            "error_message",
            "stage",
            "next_retry_at",
            "finished_at",
        ]
    )


def job_retry_or_fail(job: Job, *, reason: str) -> int | None:
    """Record a transient failure; return seconds until the next attempt.

    `reason` is short and lower-case ("processing error"): pages show it as
    "Attempt 2 of 5 failed (processing error), next try in 7 s". Returns None,
    with the job failed, when this was the last attempt allowed.
    """
    if job.attempts >= job.max_attempts:
        job_fail(job, message=f"Gave up after {job.attempts} attempts ({reason}).")
        return None
    delay = retry_delay(job.attempts, base=job.retry_backoff, cap=job.retry_backoff_max)
    job.status = Job.Status.RETRYING
    job.error_message = reason[:500]
    job.next_retry_at = timezone.now() + timedelta(seconds=delay)
    job.stage = f"Attempt {job.attempts} of {job.max_attempts} failed"
    job.save(update_fields=["status", "error_message", "next_retry_at", "stage"])
    return delay


def retry_delay(attempt: int, *, base: int, cap: int) -> int:
    """Exponential backoff with jitter: base, 2*base, 4*base... capped, then jittered.

    The jitter keeps the retries of many jobs that failed together (a gateway
    outage) from arriving together; it never drops below half the step.
    """
    step = min(cap, base * 2 ** max(0, attempt - 1))
    return max(1, round(random.uniform(step / 2, step)))  # noqa: S311 (not crypto)


def jobs_sweep() -> int:
    """Publish again every job stuck past its lease; return how many.

    Catches what enqueue-after-commit cannot: a broker that was down at publish
    time, a message lost with a Redis restart, a worker killed mid-task.
    """
    now = timezone.now()
    lease = timedelta(seconds=settings.JOB_QUEUED_LEASE)
    swept = 0
    for model in selectors.job_models():
        running_lease = selectors.job_running_lease(model)
        # Each branch also waits its lease after the last publish, so a job
        # the sweeper just published is not published again at the next sweep.
        stuck = model.objects.filter(
            Q(status=Job.Status.QUEUED, enqueued_at__lt=now - lease)
            | Q(status=Job.Status.QUEUED, enqueued_at__isnull=True)
            | Q(
                status=Job.Status.RETRYING,
                next_retry_at__lt=now - lease,
                enqueued_at__lt=now - lease,
            )
            | Q(
                status=Job.Status.RUNNING,
                started_at__lt=now - running_lease,
                enqueued_at__lt=now - running_lease,
            )
        )
        for job in stuck.order_by("pk")[:500]:
            logger.info(
                "Sweeper re-enqueues %s %s (%s)", model.__name__, job.pk, job.status
            )
            with transaction.atomic():
                job_enqueue(job)
            swept += 1
    return swept
