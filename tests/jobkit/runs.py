"""Run a sample job's attempts as a worker would, without a worker."""

from django.utils import timezone

from apps.core.exceptions import RetryLater
from tests.jobkit import tasks
from tests.jobkit.models import SampleJob


def run_attempt(job: SampleJob) -> int | None:
    """One attempt; the countdown if it asked to retry, else None.

    A retry is claimed only once due, so time first runs forward to it, as it
    would for the retry message waiting out its countdown.
    """
    SampleJob.objects.filter(pk=job.pk, status="retrying").update(
        next_retry_at=timezone.now()
    )
    try:
        tasks.sample_job_run(job.pk)  # Called directly: a retry raises RetryLater.
    except RetryLater as retry:
        return retry.countdown
    finally:
        job.refresh_from_db()
    return None
