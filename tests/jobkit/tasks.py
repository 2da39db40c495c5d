from apps.core.job_task import job_task
from tests.jobkit import services
from tests.jobkit.models import SampleJob


@job_task(SampleJob)
def sample_job_run(job: SampleJob) -> None:
    services.sample_job_run(job=job)
