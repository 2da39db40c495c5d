import time

from celery.exceptions import SoftTimeLimitExceeded
from django.db import transaction
from django.db.models import F

from apps.core import services as jobs
from tests.jobkit.models import SampleJob


@transaction.atomic
def sample_job_start(*, owner, **fields) -> SampleJob:
    job = SampleJob.objects.create(owner=owner, **fields)
    jobs.job_enqueue(job)
    return job


def sample_job_run(*, job: SampleJob) -> None:
    plan = job.plan.split(",")
    action = plan[min(job.attempts, len(plan)) - 1]
    for step in range(1, job.steps + 1):
        time.sleep(job.step_seconds)
        jobs.job_progress(
            job, progress=step * 100 // (job.steps + 1), stage=f"Step {step}"
        )
    match action:
        case "ok":
            SampleJob.objects.filter(pk=job.pk).update(effects=F("effects") + 1)
        case "retry":
            jobs.job_retry_or_fail(job, reason="sample outage", detail="HTTP 503")
        case "fail":
            jobs.job_fail(job, message="The sample said no.")
        case "raise":
            raise ValueError("a bug in the sample job")
        case "slow":
            time.sleep(job.soft_time_limit + 1)
        case "soft-limit":  # What Celery raises in the task at the soft limit.
            raise SoftTimeLimitExceeded
