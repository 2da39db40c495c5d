"""
Cancelling a job, for its owner. Only job types that list the state in
`cancellable_statuses` allow it. A queued or retrying job ends at once; a
running one is asked to stop, and stops at its next progress checkpoint
(apps.core.services.job_progress raises JobCancelled there), where the task
base ends it.
"""

from django.utils import timezone

from apps.core import services
from apps.core.models import Job, JobAttempt


def job_cancel(job: Job) -> bool:
    """Cancel the job for its owner; False when its type or state does not allow it.

    A queued or retrying job ends cancelled at once: its message, when it
    arrives, finds it final and does nothing. A running job is asked to stop:
    it ends cancelled at its next progress checkpoint.
    """
    model = type(job)
    now = timezone.now()
    waiting = [
        status
        for status in (Job.Status.QUEUED, Job.Status.RETRYING)
        if status in model.cancellable_statuses
    ]
    if model.objects.filter(pk=job.pk, status__in=waiting).update(
        status=Job.Status.CANCELLED,
        stage="Cancelled before it ran" if job.attempts == 0 else "Cancelled",
        next_retry_at=None,
        cancel_requested_at=now,
        finished_at=now,
    ):
        job.refresh_from_db()
        return True
    if Job.Status.RUNNING in model.cancellable_statuses and model.objects.filter(
        pk=job.pk, status=Job.Status.RUNNING, cancel_requested_at__isnull=True
    ).update(cancel_requested_at=now, stage="Stopping at the next checkpoint"):
        job.refresh_from_db()
        return True
    return False


def job_end_cancelled(job: Job) -> None:
    """End a running job whose owner cancelled it (the task base calls this)."""
    job.refresh_from_db(fields=["progress"])
    services.job_end(
        job,
        JobAttempt.Outcome.CANCELLED,
        status=Job.Status.CANCELLED,
        stage=f"Cancelled at {job.progress}%" if job.progress else "Cancelled",
        finished_at=timezone.now(),
    )
