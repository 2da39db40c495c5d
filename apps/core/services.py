"""
State changes of every Job (apps.core.models.Job) and its attempt history.
Each app's services call these instead of writing job fields themselves; the
task base (apps.core.job_task) calls the ones that start and end an attempt.
"""

import logging
import random
from datetime import timedelta
from uuid import uuid4

from celery import chord
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from kombu.exceptions import KombuError

from apps.core import attempts, selectors
from apps.core.exceptions import (
    AttemptsExhausted,
    JobCancelled,
    JobTakenOver,
    RetryLater,
)
from apps.core.models import Job, JobAttempt

Outcome = JobAttempt.Outcome

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
    task_name = job.row_task_name()
    transaction.on_commit(lambda: _publish(model, job_id, task_id, task_name))


def job_enqueue_group(jobs: list[Job], *, then) -> None:
    """Enqueue `jobs` (all of one type) as a Celery chord: their tasks run in
    parallel and, once all have ended, the task signature `then` runs once
    (a batch's one notification).

    A job that the sweeper later publishes again runs outside the chord (its
    model's chained_task_name is how it still reaches `then`'s work), so
    `then` must be idempotent.
    """
    if not jobs:
        return
    model, now = type(jobs[0]), timezone.now()
    for job in jobs:
        job.task_id, job.enqueued_at = str(uuid4()), now
        job.save(update_fields=["task_id", "enqueued_at"])
    members = [(job.pk, job.task_id) for job in jobs]
    transaction.on_commit(lambda: _publish_chord(model, members, then))


def _publish_chord(model: type[Job], members: list[tuple[int, str]], then) -> None:
    task = selectors.job_task(model)
    header = [task.signature((job_id,), task_id=task_id) for job_id, task_id in members]
    try:
        chord(header)(then)
    except (KombuError, OSError):
        logger.warning("Broker unavailable: %s %s stay queued", model.__name__, members)
        model.objects.filter(
            pk__in=[job_id for job_id, _ in members], status=Job.Status.QUEUED
        ).update(stage=WAITING_FOR_BROKER)


def job_republish(job: Job, *, stage: str) -> bool:
    """Publish the job again with a fresh task id, unless its row changed since
    `job` was read (a worker claimed it meanwhile); True if published.

    The sweeper's way to hand a stuck job to a worker: one conditional UPDATE,
    so it never takes a job from a worker that has just started it.
    """
    task_id, now = str(uuid4()), timezone.now()
    # Everything a claim, a progress update or a heartbeat changes: if any of
    # it moved since the sweeper read the row, a worker holds the job now.
    as_read = {
        field: getattr(job, field)
        for field in ("status", "task_id", "attempts", "heartbeat_at", "stage")
    }
    if (
        not type(job)
        .objects.filter(pk=job.pk, **as_read)
        .update(task_id=task_id, enqueued_at=now, stage=stage)
    ):
        return False
    job.task_id, job.enqueued_at, job.stage = task_id, now, stage
    model, job_id, task_name = type(job), job.pk, job.row_task_name()
    transaction.on_commit(lambda: _publish(model, job_id, task_id, task_name))
    return True


def job_refuse(job: Job, *, message: str) -> None:
    """End a job that must not run at all (a limit said no), before it was
    ever published: failed, saying why. Nothing is lost silently."""
    job.status = Job.Status.FAILED
    job.error_message = message[:500]
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "error_message", "finished_at"])


def job_requeue(job: Job, *, stage: str) -> None:
    """Start a finished job again from its first attempt (a staff retry).

    Its attempt history stays: the new run's attempts are added to it.
    """
    job.status = Job.Status.QUEUED
    job.attempts = 0
    job.progress = 0
    job.stage = stage
    job.error_message = ""
    job.next_retry_at = job.started_at = job.finished_at = None
    job.lease_expires_at = job.cancel_requested_at = None
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
            "lease_expires_at",
            "cancel_requested_at",
        ]
    )
    job_enqueue(job)


def _publish(model: type[Job], job_id: int, task_id: str, task_name: str) -> None:
    task = selectors.job_task(model, task_name)
    message = task.signature((job_id,), task_id=task_id)
    if model.chained_task_name:
        message |= task.app.signature(
            model.chained_task_name, args=(job_id,), immutable=True
        )
    try:
        message.apply_async()
    except (KombuError, OSError):
        # The request must still succeed: the row stays queued and the sweeper
        # publishes it again once the broker is back.
        logger.warning("Broker unavailable: %s %s stays queued", model.__name__, job_id)
        model.objects.filter(pk=job_id, status=Job.Status.QUEUED).update(
            stage=WAITING_FOR_BROKER
        )


def job_start(
    job: Job, *, task_id: str | None, redelivered: bool = False, worker: str = ""
) -> bool:
    """Claim the job for this attempt; False if it is not ours to run.

    Claimable: a queued job; a retrying job once its retry is due, or by its
    own retry message; a running job whose lease lapsed (its worker died); or
    a running job whose own message comes back marked redelivered, which the
    broker does only once the delivery holding it has died (a pool child was
    killed and acks_late + reject_on_worker_lost gave it back). The claim is
    one conditional UPDATE, so two deliveries cannot both win it.

    Raises AttemptsExhausted when the job is claimable but has used every
    attempt (the last one was cut off), so that it ends instead of looping;
    JobCancelled when its owner cancelled it while an earlier worker was dying.
    """
    now = timezone.now()
    model = type(job)
    claimable = (
        Q(status=Job.Status.QUEUED)
        | Q(status=Job.Status.RETRYING, next_retry_at__lte=now + RETRY_CLOCK_SLACK)
        | selectors.lease_lapsed(now)
    )
    if task_id:
        claimable |= Q(status=Job.Status.RETRYING, task_id=task_id)
        if redelivered:
            claimable |= Q(status=Job.Status.RUNNING, task_id=task_id)
    rows = model.objects.filter(claimable, pk=job.pk)
    # The last sign of life of an attempt this claim may find cut off.
    last_seen = job.heartbeat_at or job.started_at
    claim = {
        "status": Job.Status.RUNNING,
        "started_at": now,
        "heartbeat_at": now,
        "lease_expires_at": now + timedelta(seconds=model.lease_seconds),
        "next_retry_at": None,
        # Whoever claims the row owns it: a duplicate message with another
        # id finds it running and leaves it alone.
        "task_id": task_id or F("task_id"),
    }
    # The claim and its attempt rows in one transaction; what stops the
    # attempt is raised once they are committed.
    with transaction.atomic():
        claimed, stop = _claim(
            job, rows, claim, last_seen=last_seen, worker=worker, now=now
        )
    if stop is not None:
        raise stop
    return claimed


def _claim(
    job: Job, rows, claim: dict, *, last_seen, worker: str, now
) -> tuple[bool, Exception | None]:
    model = type(job)
    # Since when it waited for a worker, as the row stood before the claim:
    # its retry falling due, or its publish.
    waiting_since = (
        job.next_retry_at
        if job.status == Job.Status.RETRYING and job.next_retry_at
        else job.enqueued_at
    )
    claimed = rows.filter(attempts__lt=model.max_attempts).update(
        **claim, attempts=F("attempts") + 1, stage="Started"
    )
    if not claimed:
        # At the cap: claim it once more, only to give it up.
        if not rows.update(**claim, stage="Stopping"):
            return False, None
        attempts.attempt_close(
            job,
            Outcome.INTERRUPTED,
            error=attempts.ATTEMPT_CUT_OFF,
            ended_at=last_seen,
        )
        job.refresh_from_db()
        if job.cancel_requested_at:
            return False, JobCancelled()  # What the owner asked for, not a failure.
        # The last attempt ended failed but could not be given up (its hook
        # failed): give it up now, for the same reason.
        released = attempts.attempt_last(job)
        if released and released.outcome == Outcome.FAILED and released.error:
            return False, AttemptsExhausted(released.error)
        return False, AttemptsExhausted(
            f"Stopped after {job.attempts} attempts: the last one was cut off "
            "before it could finish."
        )
    job.refresh_from_db()
    # An earlier attempt still open was cut off: its worker died.
    attempts.attempt_close(
        job, Outcome.INTERRUPTED, error=attempts.ATTEMPT_CUT_OFF, ended_at=last_seen
    )
    if job.cancel_requested_at:
        # Cancelled while an earlier worker was dying: nothing left to run.
        return False, JobCancelled()
    attempts.attempt_open(
        job, worker=worker, started_at=now, waiting_since=waiting_since
    )
    return True, None


def job_progress(job: Job, *, progress: int, stage: str, **fields) -> None:
    """Record how far the running job is (and its own `fields`, such as
    counts); also renews its lease. Called inside the transaction that saves
    a batch of work, it commits with it: counts and work never disagree.

    A progress update is the job's checkpoint: it raises JobCancelled when the
    owner asked to cancel, and JobTakenOver when the row is no longer this
    attempt's (its lease lapsed and another worker claimed it, or it was
    deleted).
    """
    now = timezone.now()
    job.progress = max(0, min(100, progress))
    job.stage = stage[:200]
    updated = (
        selectors.job_row_held(job)
        .filter(cancel_requested_at__isnull=True)
        .update(
            progress=job.progress,
            stage=job.stage,
            heartbeat_at=now,
            lease_expires_at=now + timedelta(seconds=job.lease_seconds),
            **fields,
        )
    )
    if not updated:
        _raise_why_not_ours(job)
    for name, value in fields.items():
        setattr(job, name, value)


def job_heartbeat(job: Job) -> bool:
    """Renew the running job's lease; False once the row is no longer ours.

    A cancel request does not stop it: the job is alive until its next
    checkpoint, and must not be taken for dead meanwhile.
    """
    now = timezone.now()
    return bool(
        selectors.job_row_held(job).update(
            heartbeat_at=now,
            lease_expires_at=now + timedelta(seconds=job.lease_seconds),
        )
    )


def _raise_why_not_ours(job: Job):
    row = type(job).objects.filter(pk=job.pk, task_id=job.task_id).first()
    if row and row.status == Job.Status.RUNNING and row.cancel_requested_at:
        raise JobCancelled
    raise JobTakenOver


def job_succeed(job: Job, *, stage: str = "Done", **fields) -> None:
    """Mark the job done, saving any of its own fields passed along."""
    job_end(
        job,
        Outcome.SUCCEEDED,
        status=Job.Status.SUCCEEDED,
        progress=100,
        stage=stage,
        error_message="",
        finished_at=timezone.now(),
        **fields,
    )


def job_fail(job: Job, *, message: str, detail: str = "", **fields) -> None:
    """End the job for good, with a message the user can act on, saving any of
    its own fields passed along.

    `detail` is for staff (an exception, a server's answer); it is kept on the
    attempt, never shown to the user.
    """
    job_end(
        job,
        Outcome.FAILED,
        error=message,
        detail=detail,
        status=Job.Status.FAILED,
        error_message=message[:500],
        stage="",  # The badge says failed; the message says why.
        finished_at=timezone.now(),
        **fields,
    )


def job_retry_or_fail(job: Job, *, reason: str, detail: str = "", **fields) -> None:
    """Record a transient failure (and any of the job's own fields passed
    along) and raise RetryLater, or AttemptsExhausted when this was the last
    attempt allowed.

    `reason` is short and lower-case ("processing error"): pages show it as
    "Attempt 2 of 5 failed (processing error), next try in 7 s". The task base
    turns RetryLater into a Celery retry and hands AttemptsExhausted to the
    job's give-up hook.
    """
    if job.attempts >= job.max_attempts:
        # The give-up hook ends the job, and this attempt with it.
        _write_own(job, heartbeat_at=timezone.now(), **fields)
        raise AttemptsExhausted(
            f"Gave up after {job.attempts} attempts ({reason}).", detail=detail
        )
    delay = retry_delay(job.attempts, base=job.retry_backoff, cap=job.retry_backoff_max)
    next_retry_at = timezone.now() + timedelta(seconds=delay)
    job_end(
        job,
        Outcome.RETRY,
        error=reason,
        detail=detail,
        retry_at=next_retry_at,
        status=Job.Status.RETRYING,
        error_message=reason[:500],
        next_retry_at=next_retry_at,
        stage=f"Attempt {job.attempts} of {job.max_attempts} failed",
        **fields,
    )
    raise RetryLater(delay, reason)


def job_end(
    job: Job, outcome: str, *, error="", detail="", retry_at=None, **values
) -> None:
    """End this attempt of the running job: write `values` to its row and close
    its attempt with `outcome`.

    Only the attempt that holds the row may: one whose lease lapsed while it
    was still alive (a long pause) and whose job another attempt has taken
    over gets JobTakenOver, so it can never overwrite the newer attempt's work.
    """
    # One transaction: nobody ever reads the job ended and its attempt not.
    values = {"next_retry_at": None, "lease_expires_at": None, **values}
    with transaction.atomic():
        _write_own(job, **values)
        attempts.attempt_close(
            job, outcome, error=error, detail=detail, retry_at=retry_at
        )


def retry_delay(attempt: int, *, base: int, cap: int) -> int:
    """Exponential backoff with jitter: base, 2*base, 4*base... capped, then jittered.

    The jitter keeps the retries of many jobs that failed together (a gateway
    outage) from arriving together; it never drops below half the step.
    """
    step = min(cap, base * 2 ** max(0, attempt - 1))
    return max(1, round(random.uniform(step / 2, step)))  # noqa: S311 (not crypto)


def job_release(job: Job, *, error: str, detail: str) -> None:
    """Let go of a running job that could not be ended (its give-up hook
    failed): its lease lapses now, so the sweeper soon hands it to another
    attempt, which ends it, rather than leaving it half settled."""
    with transaction.atomic():
        _write_own(
            job,
            lease_expires_at=timezone.now(),
            stage="Finishing; trying again shortly",
        )
        attempts.attempt_close(job, Outcome.FAILED, error=error, detail=detail)


def _write_own(job: Job, **values) -> None:
    """Write `values` to the job's row if this attempt holds it, else raise
    JobTakenOver."""
    if not selectors.job_row_held(job).update(**values):
        raise JobTakenOver
    for name, value in values.items():
        setattr(job, name, value)


def job_attempts_trim() -> str:
    """Delete the attempt history of attempts that ended more than
    JOB_ATTEMPT_RETENTION_DAYS ago (the jobs stay): beat, daily. Running it
    twice deletes nothing more."""
    cutoff = timezone.now() - timedelta(days=settings.JOB_ATTEMPT_RETENTION_DAYS)
    deleted, _ = JobAttempt.objects.filter(finished_at__lt=cutoff).delete()
    return f"Deleted {deleted} attempt{'s' if deleted != 1 else ''}."
