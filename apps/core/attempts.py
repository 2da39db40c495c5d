"""
The attempt history of every job (apps.core.models.JobAttempt): one row an
attempt, opened when a worker claims the job and closed with how it ended.
Written only by apps.core.services, as the job's state changes.
"""

from django.contrib.contenttypes.models import ContentType
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from apps.core.models import Job, JobAttempt

ATTEMPT_CUT_OFF = "The worker running it stopped before it could finish."


def attempt_open(
    job: Job, *, worker: str, started_at, waiting_since=None
) -> JobAttempt:
    waited = (started_at - waiting_since).total_seconds() if waiting_since else None
    return JobAttempt.objects.create(
        job_type=_job_type(job),
        job_id=job.pk,
        number=job.attempts,
        task_id=job.task_id,
        worker=worker[:200],
        started_at=started_at,
        waited_seconds=max(waited, 0.0) if waited is not None else None,
    )


def attempt_close(
    job: Job,
    outcome: str,
    *,
    error: str = "",
    detail: str = "",
    retry_at=None,
    ended_at=None,
) -> None:
    """End the job's open attempt, if any, with `outcome`, at `ended_at` (now)."""
    JobAttempt.objects.filter(
        job_type=_job_type(job), job_id=job.pk, outcome=JobAttempt.Outcome.RUNNING
    ).update(
        outcome=outcome,
        # Never before it started (clocks of two machines may differ).
        finished_at=Greatest(
            F("started_at"), Value(ended_at or timezone.now(), DateTimeField())
        ),
        error=error[:500],
        error_detail=detail,
        retry_at=retry_at,
    )


def attempt_last(job: Job) -> JobAttempt | None:
    return (
        JobAttempt.objects.filter(job_type=_job_type(job), job_id=job.pk)
        .order_by("-started_at", "-id")
        .first()
    )


def _job_type(job: Job) -> ContentType:
    return ContentType.objects.get_for_model(job, for_concrete_model=True)
